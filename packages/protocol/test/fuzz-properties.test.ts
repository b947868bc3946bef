import fc from "fast-check";
import { describe, expect, it } from "vitest";
// @ts-expect-error plain JavaScript helper shared with scripts/make-vectors.mjs
import { canonical, envelopeToJson } from "../scripts/vector-json.mjs";
import { Channel } from "../src/channel.js";
import { decodeFrame, encodeFrame, utf8Length } from "../src/codec.js";
import { ErrorCode, LimitError } from "../src/errors.js";
import { DEFAULT_LIMITS, type ProtocolLimits } from "../src/limits.js";
import type { EnvelopeInit, WireValue } from "../src/messages.js";
import { createMemoryTransportPair } from "../src/transport.js";
import { FakeClock } from "./helpers/fake-clock.js";
import { settle } from "./helpers/raw.js";

// Envelopes built from the schema's own shapes: every value kind, maps, repeated fields, strings
// with any code point, 64-bit integers at the edges of the range the protocol allows.
const int53 = fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER });
const uint53 = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const text = fc.string({ unit: "grapheme", maxLength: 12 });
const name = fc.string({ minLength: 1, maxLength: 8 });
const valueArb: fc.Arbitrary<WireValue> = fc.oneof(
  fc.constant({}),
  fc.boolean().map((b) => ({ boolValue: b })),
  int53.filter((n) => n !== 0).map((n) => ({ intValue: n })),
  fc
    .double({ noNaN: true })
    .filter((n) => !Object.is(n, 0) && !Object.is(n, -0))
    .map((n) => ({ numberValue: n })),
  text.filter((s) => s !== "").map((s) => ({ stringValue: s })),
  fc.uint8Array({ minLength: 1, maxLength: 16 }).map((b) => ({ bytesValue: b })),
  fc.json().map((j) => ({ jsonValue: j })),
);
const mapArb = fc.dictionary(name, valueArb, { maxKeys: 6 });
const propertyValueArb = fc.record(
  { thing: name, name, value: valueArb, timestampMs: uint53, quality: fc.constantFrom(0, 1, 2), seq: uint53 },
  { requiredKeys: [] },
);
const envelopeArb: fc.Arbitrary<EnvelopeInit> = fc.oneof(
  fc.record({
    requestId: fc.nat(),
    propertyUpdate: fc.record({ values: fc.array(propertyValueArb, { maxLength: 12 }) }),
  }),
  fc.record({
    requestId: fc.nat(),
    serviceInvoke: fc.record({ thing: name, service: name, params: mapArb, timeoutMs: fc.nat() }),
  }),
  fc.record({
    requestId: fc.nat(),
    eventBatch: fc.record({
      events: fc.array(fc.record({ thing: name, name, data: mapArb, timestampMs: uint53, seq: uint53 }), {
        maxLength: 8,
      }),
    }),
  }),
  fc.record({ requestId: fc.nat(), bind: fc.record({ things: fc.array(text, { maxLength: 20 }) }) }),
  fc.record({
    goodbye: fc.record({
      reason: fc.nat(6),
      message: text,
      reconnectAfterMs: fc.nat(),
      code: fc.constantFrom("", ErrorCode.UnsupportedVersion),
    }),
  }),
  fc.record({ keepAlive: fc.record({ timestampMs: uint53, reply: fc.boolean() }) }),
);

/** Whether a decoded envelope breaks `limits`, computed independently of the codec's own walk. */
function breaks(node: unknown, limits: ProtocolLimits, mapKey = false): boolean {
  if (typeof node === "string") return utf8Length(node) > limits.maxStringBytes;
  if (node instanceof Uint8Array || node === null || typeof node !== "object") return false;
  if (Array.isArray(node)) return node.length > limits.maxBatch || node.some((v) => breaks(v, limits));
  const entries = Object.entries(node as Record<string, unknown>);
  if (mapKey && entries.length > limits.maxBatch) return true;
  return entries.some(
    ([k, v]) => (mapKey && utf8Length(k) > limits.maxStringBytes) || breaks(v, limits, k === "params" || k === "data"),
  );
}

const limitsArb = fc.record({
  maxFrameBytes: fc.integer({ min: 1024, max: 4096 }),
  maxBatch: fc.integer({ min: 1, max: 12 }),
  maxStringBytes: fc.integer({ min: 1, max: 24 }),
});

describe("fuzz properties", () => {
  it("fuzz - every envelope round-trips: decode(encode(e)) equals e, and re-encodes to the same bytes", () => {
    fc.assert(
      fc.property(envelopeArb, (e) => {
        const bytes = encodeFrame(e);
        const decoded = decodeFrame(bytes, { ...DEFAULT_LIMITS, maxFrameBytes: 1 << 24 });
        expect(canonical(envelopeToJson(decoded))).toBe(canonical(envelopeToJson(e)));
        expect(Buffer.from(encodeFrame(decoded)).equals(Buffer.from(bytes))).toBe(true);
      }),
      { numRuns: 3_000 },
    );
  });

  it("fuzz - decodeFrame refuses exactly the frames that break its limits, with a LimitError", () => {
    fc.assert(
      fc.property(envelopeArb, limitsArb, (e, partial) => {
        const limits = { ...DEFAULT_LIMITS, ...partial };
        const bytes = encodeFrame(e);
        const tooBig = bytes.byteLength > limits.maxFrameBytes;
        const shouldRefuse =
          tooBig || breaks(decodeFrame(bytes, { ...DEFAULT_LIMITS, maxFrameBytes: 1 << 24 }), limits);
        let refused: unknown;
        try {
          decodeFrame(bytes, limits);
        } catch (err) {
          refused = err;
        }
        expect(refused === undefined ? "accepted" : "refused").toBe(shouldRefuse ? "refused" : "accepted");
        if (refused) {
          expect(refused).toBeInstanceOf(LimitError);
          expect((refused as LimitError).code).toBe(tooBig ? ErrorCode.FrameTooLarge : ErrorCode.LimitExceeded);
        }
      }),
      { numRuns: 3_000 },
    );
  });

  it("fuzz - a channel never sends a frame over the peer's maxFrameBytes and the peer gets the message intact", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1024, max: 3000 }),
        fc.integer({ min: 0, max: 12_000 }),
        async (maxFrameBytes, size) => {
          const [ta, tb] = createMemoryTransportPair();
          const frames: Uint8Array[] = [];
          const send = ta.send.bind(ta);
          ta.send = (f: Uint8Array) => {
            frames.push(f);
            send(f);
          };
          const clock = new FakeClock();
          const sender = new Channel(ta, { clock });
          const receiver = new Channel(tb, { clock, limits: { maxFrameBytes } });
          sender.setPeerLimits({ maxFrameBytes });
          const envelope = {
            propertyUpdate: { values: [{ thing: "t", name: "n", value: { stringValue: "x".repeat(size) } }] },
          };
          sender.send(envelope);
          const it = receiver.messages[Symbol.asyncIterator]();
          const got = await it.next();
          await settle(1);
          expect(await Promise.race([receiver.closed(), Promise.resolve("open")])).toBe("open");
          for (const f of frames) expect(f.byteLength).toBeLessThanOrEqual(maxFrameBytes);
          expect(got.value?.propertyUpdate?.values?.[0]?.value?.stringValue).toBe("x".repeat(size));
          await sender.close();
          await receiver.close();
        },
      ),
      { numRuns: 300 },
    );
  });
});
