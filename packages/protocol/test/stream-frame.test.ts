import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { encodeFrame } from "../src/codec.js";
import { encodeFileChunkRecord, encodeFileRecord } from "../src/file-records.js";
import { encodeStreamDataFrame } from "../src/stream-frame.js";

const join = (parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts));
const parts = fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 5 });

describe("stream frames - hand-encoded data frames", () => {
  it("are byte for byte the protobuf encoding of the joined parts", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), parts, fc.boolean(), (id, ps, fin) => {
        const data = join(ps);
        const frame = encodeStreamDataFrame(id, ps, data.byteLength, fin);
        expect(Buffer.from(frame).equals(Buffer.from(encodeFrame({ streamId: id, streamData: { data, fin } })))).toBe(
          true,
        );
      }),
    );
  });

  it("hold a full 64 KiB payload with multi-byte lengths", () => {
    const big = new Uint8Array(65_000).fill(7);
    const ps = [big.subarray(0, 5), big.subarray(5, 64_000), big.subarray(64_000)];
    const frame = encodeStreamDataFrame(0x7fff_fff1, ps, big.byteLength, true);
    expect(
      Buffer.from(frame).equals(
        Buffer.from(encodeFrame({ streamId: 0x7fff_fff1, streamData: { data: big, fin: true } })),
      ),
    ).toBe(true);
  });
});

describe("stream frames - parts that do not add up", () => {
  it("are refused, so a frame never carries bytes it was not given", () => {
    const parts = [new Uint8Array(5000).fill(1), new Uint8Array(3000).fill(2)];
    expect(() => encodeStreamDataFrame(3, parts, 8001, false)).toThrow(RangeError);
    expect(() => encodeStreamDataFrame(3, parts, 7999, true)).toThrow(RangeError);
    expect(encodeStreamDataFrame(3, parts, 8000, true).byteLength).toBeGreaterThan(8000);
  });
});

describe("file records - hand-encoded chunk records", () => {
  it("are byte for byte encodeFileRecord of the joined sealed chunk", () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER })),
        parts,
        (index, ps) => {
          const sealed = join(ps);
          const pieces = encodeFileChunkRecord(index, ps);
          expect(Buffer.from(join(pieces)).equals(Buffer.from(encodeFileRecord({ chunk: { index, sealed } })))).toBe(
            true,
          );
        },
      ),
    );
  });
});
