import { EdgeClient, type Stream } from "@outpost/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makePki, startTestServer, type TestPki, type TestServer } from "../../packages/server/test/edge-harness.js";
import { waitUntil } from "../helpers/wait.js";

// Windows large enough that the bulk stream never waits for credit: only the priority lane can then
// keep control messages from queueing behind its data.
const STREAM_WINDOW = 4 * 1024 * 1024;

let pki: TestPki;
let ts: TestServer;
/** Streams the server accepted, by type, with the bytes read from each. */
const accepted: { stream: Stream; read: number }[] = [];

beforeAll(async () => {
  pki = makePki(["dev-1", "dev-2"]);
  ts = await startTestServer(pki, {
    limits: { streamWindow: STREAM_WINDOW, connectionWindow: 16 * 1024 * 1024 },
    edge: {
      port: 0,
      certPem: pki.serverCertPem,
      keyPem: pki.serverKeyPem,
      clientCaPem: pki.caPem,
      // "sink" streams are read as fast as they come; "stall" streams are never read.
      onStream: (stream) => {
        const entry = { stream, read: 0 };
        accepted.push(entry);
        if (stream.type === "sink") stream.onData((c) => void (entry.read += c.byteLength));
      },
    },
  });
});

afterAll(async () => {
  await ts?.close();
});

async function device(id: string, thing: string): Promise<EdgeClient> {
  const client = new EdgeClient({
    url: ts.server.edgeUrl,
    appKey: ts.keys[id]!,
    tls: { ca: pki.caPem, cert: pki.devices[id]!.certPem, key: pki.devices[id]!.keyPem },
    reconnect: false,
    flushIntervalMs: 0,
  });
  client.thing(thing);
  await client.connect();
  return client;
}

/** Writes `total` bytes (or until `until()` is true) as fast as the stream takes them. */
async function pump(stream: Stream, total: number, until: () => boolean = () => false): Promise<number> {
  const chunk = new Uint8Array(32 * 1024).fill(7);
  let sent = 0;
  while (sent < total && !until()) {
    await stream.write(chunk);
    sent += chunk.byteLength;
  }
  return sent;
}

function p99(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))]!;
}

describe("streams - over real TLS between the SDK and the reference server", () => {
  it("streams - a stalled stream does not slow another, and the server buffers at most its window for it", async () => {
    const client = await device("dev-1", "pump-1");
    try {
      const before = accepted.length;
      const stalled = client.openStream({ type: "stall" });
      const stalledWriting = pump(stalled, 2 * STREAM_WINDOW).catch(() => undefined);
      const sink = client.openStream({ type: "sink" });
      const total = 16 * 1024 * 1024;
      await pump(sink, total);
      await sink.end();
      const onServer = await waitUntil("the sink stream to be read", () =>
        accepted.slice(before).find((a) => a.stream.type === "sink" && a.read === total),
      );
      expect(onServer.read).toBe(total);
      const stallOnServer = accepted.slice(before).find((a) => a.stream.type === "stall")!;
      expect(stallOnServer.stream.bufferedBytes).toBeLessThanOrEqual(STREAM_WINDOW);
      expect(stallOnServer.stream.bufferedBytes).toBeGreaterThan(STREAM_WINDOW / 2);
      stalled.reset();
      await stalledWriting;
    } finally {
      await client.close();
    }
  });

  it("streams - a property update is acknowledged promptly while a bulk stream saturates the connection", async () => {
    const client = await device("dev-2", "pump-2");
    try {
      // A deep write queue: the stream always has data waiting, as a file read from disk would.
      const bulk = client.openStream({ type: "sink", writeHighWaterBytes: 4 * 1024 * 1024 });
      let stop = false;
      const bulkWriting = pump(bulk, Number.MAX_SAFE_INTEGER, () => stop);
      // Let the stream fill its windows and the socket first.
      await new Promise((r) => setTimeout(r, 200));
      const latencies: number[] = [];
      const deadline = Date.now() + 10_000;
      for (let i = 0; i < 100 && Date.now() < deadline; i++) {
        const t0 = performance.now();
        client.thing("pump-2").set("temp", i);
        await client.flush();
        latencies.push(performance.now() - t0);
      }
      stop = true;
      const sent = await bulkWriting;
      await bulk.end();
      const worst = p99(latencies);
      console.log(
        `property update ack during a saturated stream: p99 ${worst.toFixed(1)} ms over ${latencies.length} updates; ` +
          `${(sent / 1024 / 1024).toFixed(0)} MiB streamed meanwhile`,
      );
      expect(latencies.length).toBeGreaterThanOrEqual(20);
      expect(sent).toBeGreaterThan(4 * 1024 * 1024);
      expect(worst).toBeLessThan(1000);
    } finally {
      await client.close();
    }
  });
});
