import { request as httpsRequest } from "node:https";
import { toWireValue } from "@outpost/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makePki, readyDevice, startTestServer, type TestPki, type TestServer } from "./edge-harness.js";

let pki: TestPki;
let ts: TestServer;

beforeAll(async () => {
  pki = makePki(["dev-1"]);
  ts = await startTestServer(pki);
});

afterAll(async () => {
  await ts?.close();
});

/** Counts `event: property` frames on /api/events until `want` arrived (resolves) or the stream ends (rejects). */
function countEvents(onOpen: () => void, want: number): Promise<{ frames: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    let frames = 0;
    let bytes = 0;
    const req = httpsRequest(`${ts.server.operatorUrl}/api/events`, {
      ca: pki.caPem,
      headers: { authorization: `Bearer ${ts.adminToken}` },
    });
    req.on("error", reject);
    req.on("response", (res) => {
      let buffer = "";
      res.on("data", (chunk: Buffer) => {
        buffer += chunk.toString("utf8");
        const parts = buffer.split("\n\n");
        buffer = parts.pop() ?? "";
        for (const f of parts) {
          if (f === ": connected") onOpen();
          if (!f.startsWith("event: property")) continue;
          frames++;
          bytes += f.length;
          if (frames === want) {
            req.destroy();
            resolve({ frames, bytes });
          }
        }
      });
      res.on("close", () => reject(new Error(`event stream closed after ${frames} of ${want} events`)));
    });
    req.end();
  });
}

describe("operator event stream and large batches", () => {
  it("operator - one property batch over 1 MiB reaches an event stream whole, without disconnecting it", async () => {
    const device = await readyDevice(ts, pki, "dev-1", ["pump-1"]);
    const count = 200;
    const text = "x".repeat(8_000);
    const values = Array.from({ length: count }, (_, i) => ({
      thing: "pump-1",
      name: "log",
      value: toWireValue(`${i}:${text}`),
      timestampMs: 1_000 + i,
    }));
    let ack: Promise<unknown> | undefined;
    const got = await countEvents(() => {
      ack = device.channel.request({ propertyUpdate: { values } });
    }, count);
    await ack;
    expect(got.frames).toBe(count);
    expect(got.bytes).toBeGreaterThan(1024 * 1024);
    await device.close();
  });
});
