import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { decodeFrame, encodeFrame, type Envelope, GoodbyeReason, PROTOCOL_VERSION } from "@outpost/protocol";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makePki, readyDevice, startTestServer, type TestPki, type TestServer } from "./edge-harness.js";
import { openRawDevice, type RawDevice } from "./raw-device.js";

let pki: TestPki;
let ts: TestServer;

beforeAll(async () => {
  pki = makePki(["dev-1", "dev-2"]);
  ts = await startTestServer(pki);
});

afterAll(async () => {
  await ts?.close();
});

const vectorDir = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "protocol", "vectors");
const corpus = readdirSync(vectorDir)
  .filter((f) => f.endsWith(".bin"))
  .sort()
  .map((f) => new Uint8Array(readFileSync(join(vectorDir, f))));

/** A vector with a few bytes flipped, cut, inserted or deleted. */
const mutatedArb = fc
  .tuple(
    fc.nat(corpus.length - 1),
    fc.array(fc.tuple(fc.constantFrom("flip", "cut", "insert", "delete"), fc.nat(), fc.nat(255)), {
      minLength: 1,
      maxLength: 3,
    }),
  )
  .map(([i, ops]) => {
    let b = Array.from(corpus[i]!);
    for (const [op, pos, v] of ops) {
      const at = b.length === 0 ? 0 : pos % b.length;
      if (op === "flip" && b.length > 0) b[at] = b[at]! ^ (1 << (v % 8));
      else if (op === "cut") b = b.slice(0, at);
      else if (op === "insert") b.splice(at, 0, v);
      else if (op === "delete") b.splice(at, 1);
    }
    return Uint8Array.from(b);
  });
const frameArb = fc.oneof(
  { weight: 4, arbitrary: mutatedArb },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }) },
  { weight: 1, arbitrary: fc.constantFrom(...corpus) },
);

function decodesAs(frame: Uint8Array): string | undefined {
  try {
    return decodeFrame(frame).body ?? undefined;
  } catch {
    return undefined;
  }
}

/** Authenticates a raw device as dev-1 with pump-1 bound. */
async function authenticated(): Promise<RawDevice> {
  const d = await openRawDevice(ts.server.edgeUrl, pki.caPem, pki.devices["dev-1"]!);
  d.send(encodeFrame({ requestId: 1, hello: { minVersion: 1, maxVersion: PROTOCOL_VERSION } }));
  await d.next();
  d.send(encodeFrame({ requestId: 2, auth: { appKey: ts.keys["dev-1"]! } }));
  expect((await d.next()).authResult?.status).toBe(200);
  d.send(encodeFrame({ requestId: 3, bind: { things: ["pump-1"] } }));
  await d.next();
  return d;
}

const isCode = (code: string | null | undefined): boolean => typeof code === "string" && /^OUTPOST_[A-Z_]+$/.test(code);

describe("edge fuzz over a real connection", () => {
  it("fuzz - mutated frames after auth get typed answers or Goodbye{PROTOCOL_ERROR, code}, one connection at a time", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(frameArb, { minLength: 1, maxLength: 5 }), async (frames) => {
        const d = await authenticated();
        const before = d.received.length;
        for (const f of frames) d.send(f);
        // A probe after the frames: its answer means everything before it was processed.
        const probe = 424242;
        d.send(encodeFrame({ keepAlive: { timestampMs: probe } }));
        const outcome = await Promise.race([
          d.closed.then((code) => ({ closed: code })),
          (async () => {
            for (;;) {
              const e = await d.next();
              if (e.keepAlive?.timestampMs === probe && e.keepAlive.reply) return { alive: true };
            }
          })().catch(() => ({ closed: -1 })),
        ]);
        const answers = d.received.slice(before) as Envelope[];
        for (const a of answers) {
          if (a.response && !(a.response.status! >= 200 && a.response.status! < 300)) {
            expect(isCode(a.response.code), `response ${a.response.status} ${a.response.message}`).toBe(true);
          }
          if (a.goodbye) {
            expect(a.goodbye.reason).toBe(GoodbyeReason.PROTOCOL_ERROR);
            expect(isCode(a.goodbye.code), a.goodbye.message ?? "").toBe(true);
          }
        }
        if ("closed" in outcome) {
          // The server closed: it said why first, unless the device itself said goodbye.
          const deviceSaidGoodbye = frames.some((f) => decodesAs(f) === "goodbye");
          if (!deviceSaidGoodbye) expect(answers.some((a) => a.goodbye)).toBe(true);
        } else {
          d.ws.close();
          await d.closed;
        }
      }),
      { numRuns: 60 },
    );
    // The process and the other devices were never affected.
    const other = await readyDevice(ts, pki, "dev-2", ["pump-2"]);
    const reply = await other.channel.request({
      propertyUpdate: { values: [{ thing: "pump-2", name: "after", value: { intValue: 1 }, timestampMs: 1 }] },
    });
    expect(reply.response?.status).toBe(200);
    await other.close();
  });
});
