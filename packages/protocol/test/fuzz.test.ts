import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { afterEach, describe, expect, it, vi } from "vitest";
import { Channel } from "../src/channel.js";
import { decodeFrame, encodeFrame } from "../src/codec.js";
import { ErrorCode, isOutpostError, ProtocolError } from "../src/errors.js";
import { encodeLengthPrefixed, StreamFrameDecoder } from "../src/framing.js";
import { DEFAULT_LIMITS } from "../src/limits.js";
import { BODY_KINDS } from "../src/messages.js";
import { MultipartAssembler } from "../src/multipart.js";
import { createMemoryTransportPair } from "../src/transport.js";
import { FakeClock } from "./helpers/fake-clock.js";
import { settle } from "./helpers/raw.js";

const dir = join(dirname(fileURLToPath(import.meta.url)), "..", "vectors");
const vectors = readdirSync(dir)
  .filter((f) => f.endsWith(".bin"))
  .sort()
  .map((f) => new Uint8Array(readFileSync(join(dir, f))));

type Op = "flip" | "truncate" | "insert" | "delete" | "varint" | "splice";
const HUGE_VARINT = [0xff, 0xff, 0xff, 0xff, 0x0f];

function mutate(base: Uint8Array, ops: [Op, number, number][]): Uint8Array {
  let b = Array.from(base);
  for (const [op, pos, value] of ops) {
    const at = b.length === 0 ? 0 : pos % b.length;
    switch (op) {
      case "flip":
        if (b.length > 0) b[at] = (b[at] as number) ^ (1 << (value % 8));
        break;
      case "truncate":
        b = b.slice(0, at);
        break;
      case "insert":
        b.splice(at, 0, value);
        break;
      case "delete":
        b.splice(at, 1);
        break;
      case "varint":
        // Corrupt a length or tag: a huge varint, or a byte with the continuation bit forced.
        if (value % 2 === 0) b.splice(at, 1, ...HUGE_VARINT);
        else if (b.length > 0) b[at] = (b[at] as number) | 0x80;
        break;
      case "splice": {
        const other = vectors[value % vectors.length] as Uint8Array;
        b.splice(at, 0, ...other.subarray(0, 1 + (value % other.length)));
        break;
      }
    }
  }
  return Uint8Array.from(b);
}

const opArb = fc.tuple(
  fc.constantFrom<Op>("flip", "truncate", "insert", "delete", "varint", "splice"),
  fc.nat(),
  fc.nat(255),
);
const mutatedArb = fc
  .tuple(fc.nat(vectors.length - 1), fc.array(opArb, { minLength: 1, maxLength: 4 }))
  .map(([i, ops]) => mutate(vectors[i] as Uint8Array, ops));
const randomArb = fc.uint8Array({ maxLength: 200 });

const SMALL = { ...DEFAULT_LIMITS, maxStringBytes: 64, maxBatch: 8 };

/** Only a decoded envelope with a body, or a ProtocolError, may come out of decodeFrame. */
function decodeIsTyped(bytes: Uint8Array): void {
  for (const limits of [DEFAULT_LIMITS, SMALL]) {
    try {
      const env = decodeFrame(bytes, limits);
      if (!env.body) throw new Error("decoded an envelope without a body");
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
    }
  }
}

// Default run: 40,000 + 50,000 + 10,000 + 4,000 = 104,000 generated cases.
describe("fuzz", () => {
  afterEach(() => {
    vi.unstubAllGlobals();
  });

  it("fuzz - the mutation corpus holds a frame of every body kind", () => {
    expect(new Set(vectors.map((v) => decodeFrame(v).body))).toEqual(new Set(BODY_KINDS));
  });

  it("fuzz - random bytes decode to an envelope or a ProtocolError", () => {
    fc.assert(fc.property(randomArb, decodeIsTyped), { numRuns: 40_000 });
  });

  it("fuzz - mutated vectors decode to an envelope or a ProtocolError", () => {
    fc.assert(fc.property(mutatedArb, decodeIsTyped), { numRuns: 50_000 });
  });

  it("fuzz - stream decoder on random chunking and corrupt prefixes only throws LimitError", () => {
    const frameArb = fc.oneof(mutatedArb, randomArb);
    fc.assert(
      fc.property(
        fc.array(frameArb, { maxLength: 6 }),
        fc.array(fc.nat(64), { maxLength: 20 }),
        fc.nat(),
        (frames, cuts, corrupt) => {
          const stream = Buffer.concat(frames.map(encodeLengthPrefixed));
          if (corrupt % 3 === 0 && stream.byteLength > 0) stream[corrupt % stream.byteLength] ^= 0xff;
          const dec = new StreamFrameDecoder({ maxFrameBytes: 4096 });
          const out: Uint8Array[] = [];
          let at = 0;
          try {
            for (const c of [...cuts, stream.byteLength]) {
              out.push(...dec.push(stream.subarray(at, at + c)));
              at += c;
            }
            out.push(...dec.push(stream.subarray(at)));
          } catch (err) {
            if (!(err instanceof ProtocolError) || err.code !== ErrorCode.FrameTooLarge) throw err;
            return;
          }
          for (const f of out) decodeIsTyped(f);
          if (corrupt % 3 !== 0) expect(out.length).toBe(frames.length);
        },
      ),
      { numRuns: 10_000 },
    );
  });

  it("fuzz - a channel fed mutated frames delivers envelopes or closes with an OutpostError", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.oneof(mutatedArb, fc.constantFrom(...vectors)), { minLength: 1, maxLength: 6 }),
        async (frames) => {
          const [ta, tb] = createMemoryTransportPair();
          const channel = new Channel(ta, { clock: new FakeClock(), limits: { maxBatch: 8 } });
          const delivered: unknown[] = [];
          const reading = (async () => {
            for await (const m of channel.messages) delivered.push(m);
          })();
          for (const f of frames) tb.send(f);
          await settle(2);
          await channel.close();
          await reading;
          const err = await channel.closed();
          if (err !== undefined && !isOutpostError(err)) throw err;
          for (const m of delivered) expect((m as { body?: string }).body).toBeDefined();
        },
      ),
      { numRuns: 4_000 },
    );
  });

  it("fuzz - a huge declared frame length is refused before allocating", () => {
    const sizes: number[] = [];
    const Real = Uint8Array;
    vi.stubGlobal(
      "Uint8Array",
      new Proxy(Real, {
        construct(target, args) {
          if (typeof args[0] === "number") sizes.push(args[0]);
          return Reflect.construct(target, args);
        },
      }),
    );
    const dec = new StreamFrameDecoder();
    expect(() => dec.push(Real.from([0xff, 0xff, 0xff, 0xf0, 1, 2, 3]))).toThrow(
      expect.objectContaining({ code: ErrorCode.FrameTooLarge }),
    );
    const asm = new MultipartAssembler({ clock: new FakeClock() });
    asm.push({ messageId: 1, index: 0, count: 2, totalBytes: 16 * 1024 * 1024, payload: Real.from([1]) });
    vi.unstubAllGlobals();
    expect(sizes.every((n) => n < 1024)).toBe(true);
    // The decoder does allocate what it is allowed to: the check above can see an allocation.
    const seen: number[] = [];
    vi.stubGlobal(
      "Uint8Array",
      new Proxy(Real, {
        construct(target, args) {
          if (typeof args[0] === "number") seen.push(args[0]);
          return Reflect.construct(target, args);
        },
      }),
    );
    new StreamFrameDecoder().push(Real.from([0, 1, 0, 0, 1]));
    vi.unstubAllGlobals();
    expect(seen).toContain(65536);
  });

  it("fuzz - a huge declared field length inside a frame is a ProtocolError", () => {
    const bin = encodeFrame({ auth: { appKey: "k" } });
    const bad = Uint8Array.from([...bin.subarray(0, 1), ...HUGE_VARINT, ...bin.subarray(2)]);
    expect(() => decodeFrame(bad)).toThrow(expect.objectContaining({ code: ErrorCode.MalformedFrame }));
  });
});
