import { describe, expect, it } from "vitest";
import { decodeFrame, encodeFrame } from "../src/codec.js";
import { ErrorCode, OutpostError, ProtocolError } from "../src/errors.js";
import { fromWireValue, toWireValue } from "../src/value.js";

const MAX = Number.MAX_SAFE_INTEGER;

/** Protobuf varint of a non-negative bigint. */
function varint(n: bigint): number[] {
  const out: number[] = [];
  do {
    let b = Number(n & 0x7fn);
    n >>= 7n;
    if (n > 0n) b |= 0x80;
    out.push(b);
  } while (n > 0n);
  return out;
}

/** Envelope{property_update{values{value{int_value: zigzag}}}} built by hand, bypassing the encoder. */
function frameWithInt(value: bigint): Uint8Array {
  const zigzag = value >= 0n ? value * 2n : -value * 2n - 1n;
  const wireValue = [0x10, ...varint(zigzag)]; // Value.int_value (2, varint)
  const pv = [0x1a, wireValue.length, ...wireValue]; // PropertyValue.value (3)
  const update = [0x0a, pv.length, ...pv]; // PropertyUpdate.values (1)
  return Uint8Array.from([0x8a, 0x01, update.length, ...update]); // Envelope.property_update (17)
}

/** Envelope{keep_alive{timestamp_ms}} built by hand. */
function frameWithTimestamp(value: bigint): Uint8Array {
  const ka = [0x08, ...varint(value)];
  return Uint8Array.from([0xb2, 0x01, ka.length, ...ka]);
}

describe("64-bit integers", () => {
  it("int64 - ±(2^53−1) travel exactly in int_value and timestamps", () => {
    for (const n of [MAX, -MAX, 0, 1, -1]) {
      const bytes = encodeFrame({
        propertyUpdate: { values: [{ value: { intValue: n }, timestampMs: MAX, seq: MAX }] },
      });
      const v = decodeFrame(bytes).propertyUpdate!.values![0]!;
      expect([v.value!.intValue, v.timestampMs, v.seq]).toEqual([n, MAX, MAX]);
    }
    expect(decodeFrame(frameWithInt(BigInt(MAX))).propertyUpdate!.values![0]!.value!.intValue).toBe(MAX);
  });

  it("int64 - a received int_value or uint64 beyond 2^53−1 is a MalformedFrame ProtocolError, not a rounded number", () => {
    for (const n of [2n ** 53n, 2n ** 53n + 1n, -(2n ** 53n), 2n ** 63n - 1n, -(2n ** 63n)]) {
      expect(() => decodeFrame(frameWithInt(n)), String(n)).toThrow(ProtocolError);
      expect(() => decodeFrame(frameWithInt(n))).toThrow(expect.objectContaining({ code: ErrorCode.MalformedFrame }));
    }
    for (const n of [2n ** 53n, 2n ** 64n - 1n]) {
      expect(() => decodeFrame(frameWithTimestamp(n))).toThrow(
        expect.objectContaining({ code: ErrorCode.MalformedFrame }),
      );
    }
  });

  it("int64 - the encoder refuses integers it cannot carry exactly instead of rounding them", () => {
    const cases: [string, object][] = [
      ["int 2^53", { propertyUpdate: { values: [{ value: { intValue: 2 ** 53 } }] } }],
      ["int -2^53", { propertyUpdate: { values: [{ value: { intValue: -(2 ** 53) } }] } }],
      ["int 1.5", { propertyUpdate: { values: [{ value: { intValue: 1.5 } }] } }],
      ["seq -1", { propertyUpdate: { values: [{ seq: -1 }] } }],
      ["timestamp 2^60", { keepAlive: { timestampMs: 2 ** 60 } }],
    ];
    for (const [what, envelope] of cases) {
      let err: unknown;
      try {
        encodeFrame(envelope);
      } catch (e) {
        err = e;
      }
      expect(err, what).toBeInstanceOf(OutpostError);
      expect((err as OutpostError).code).toBe(ErrorCode.BadRequest);
    }
  });

  it("int64 - application values: bigint within range travels as an int, beyond it is refused; large numbers go as doubles", () => {
    expect(fromWireValue(toWireValue(BigInt(MAX)))).toBe(MAX);
    expect(() => toWireValue(2n ** 53n)).toThrow(expect.objectContaining({ code: ErrorCode.BadRequest }));
    expect(toWireValue(2 ** 60)).toEqual({ numberValue: 2 ** 60 });
    const bytes = encodeFrame({ propertyUpdate: { values: [{ value: toWireValue(2 ** 60) }] } });
    expect(fromWireValue(decodeFrame(bytes).propertyUpdate!.values![0]!.value)).toBe(2 ** 60);
  });
});
