import { decodeFrame, type Transport } from "@outpost/protocol";
import { EdgeClient } from "@outpost/sdk";
import { connectWebSocket } from "../../packages/sdk/src/transport/ws-transport.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FaultProxy } from "../helpers/fault-proxy.js";
import { type DeviceBundle, ServerProcess } from "../helpers/server-process.js";
import { openEventStream } from "../helpers/sse.js";
import { waitUntil } from "../helpers/wait.js";

/** What one connection carried: event requests sent, requests answered, the record told at connect. */
interface ConnectionLog {
  sent: Map<number, number[]>;
  answered: Set<number>;
  deliveredTo: number;
}

/** Wraps a transport to log the frames that tell whether an acknowledgement was lost. */
function logged(t: Transport, log: ConnectionLog): Transport {
  return {
    send(frame) {
      const env = decodeFrame(frame);
      const events = env.eventBatch?.events ?? (env.event ? [env.event] : []);
      if (events.length > 0)
        log.sent.set(
          env.requestId,
          events.map((e) => Number(e.seq)),
        );
      t.send(frame);
    },
    frames: (async function* () {
      for await (const frame of t.frames) {
        const env = decodeFrame(frame);
        if (env.body === "response") log.answered.add(env.requestId);
        if (env.authResult?.delivered) log.deliveredTo = Number(env.authResult.delivered.lastSeq ?? 0);
        yield frame;
      }
    })(),
    close: (error) => t.close(error),
    closed: () => t.closed(),
    get bufferedBytes() {
      return t.bufferedBytes;
    },
    drain: (low) => t.drain(low),
  };
}

/** Batches the server applied whose acknowledgement never reached the device. */
function lostAcks(logs: ConnectionLog[]): number {
  let lost = 0;
  logs.forEach((log, i) => {
    const next = logs.slice(i + 1).find((l) => l.deliveredTo > 0);
    for (const [id, seqs] of log.sent) {
      if (!log.answered.has(id) && next && Math.max(...seqs) <= next.deliveredTo) lost++;
    }
  });
  return lost;
}

describe("delivery over a link that keeps dropping", () => {
  let server: ServerProcess;
  let bundle: DeviceBundle;
  let proxy: FaultProxy;

  beforeAll(async () => {
    server = ServerProcess.init();
    bundle = server.addDevice("dev-flaky", ["sensor-1"]);
    await server.start();
    // The TLS handshake, upgrade, HelloAck, AuthResult and Bind answer take the first 7 chunks the
    // server sends on a connection; the 8th is an acknowledgement, which is lost.
    proxy = await FaultProxy.start(server.edgePort, { latencyMs: 2, cutOnServerChunk: 8 });
  });

  afterAll(async () => {
    await proxy?.close();
    await server?.dispose();
  });

  it("delivery - every event arrives exactly once although acknowledgements are lost and the link is cut every 100 ms", async () => {
    const stream = await openEventStream(
      server.operatorUrl,
      server.caPem,
      server.adminToken,
      "/api/events?thing=sensor-1",
    );
    const total = 400;
    const ticks = () =>
      stream.received.filter((e) => e.type === "event" && e.name === "tick").map((e) => e.data.i as number);

    const logs: ConnectionLog[] = [];
    const tls = { ca: bundle.ca, cert: bundle.cert, key: bundle.key };
    const client = new EdgeClient({
      url: `wss://127.0.0.1:${proxy.port}`,
      appKey: bundle.appKey,
      tls,
      transportFactory: async (url, { signal }) => {
        const log: ConnectionLog = { sent: new Map(), answered: new Set(), deliveredTo: 0 };
        logs.push(log);
        return logged(await connectWebSocket(url, { tls, signal }), log);
      },
      reconnect: { initialDelayMs: 20, maxDelayMs: 200 },
      maxBatch: 20,
    });
    const sensor = client.thing("sensor-1");
    await client.connect();
    // Every other connection is cut on this timer, at whatever point it has reached (often during
    // its handshake); the others always live until the proxy cuts them at their first ack.
    const cutter = setInterval(() => proxy.cutWhere((n) => n % 2 === 1), 100);
    try {
      for (let i = 0; i < total; i++) {
        sensor.emit("tick", { i });
        if (i % 20 === 19) await new Promise((r) => setTimeout(r, 40));
      }
      await waitUntil(
        "the queue to drain through the flaky link",
        async () => {
          await client.flush({ signal: AbortSignal.timeout(2_000) }).catch(() => undefined);
          return client.queueSize === 0;
        },
        { timeoutMs: 60_000 },
      );
    } finally {
      clearInterval(cutter);
    }
    await waitUntil("every tick at the subscriber", () => new Set(ticks()).size === total, { timeoutMs: 30_000 });
    // Give any duplicate still in flight the chance to arrive before counting.
    await waitUntil("the stream to go quiet", async () => {
      const before = stream.received.length;
      await new Promise((r) => setTimeout(r, 300));
      return stream.received.length === before;
    });
    stream.close();
    await client.close();

    const counts = new Map<number, number>();
    for (const i of ticks()) counts.set(i, (counts.get(i) ?? 0) + 1);
    const missing = [...Array(total).keys()].filter((i) => !counts.has(i));
    const duplicated = [...counts].filter(([, n]) => n > 1).map(([i]) => i);
    expect(proxy.cuts).toBeGreaterThan(2);
    // The fault this test is about happened: the server applied batches whose acknowledgement was lost.
    expect(lostAcks(logs)).toBeGreaterThan(0);
    expect(missing).toEqual([]);
    expect(duplicated).toEqual([]);
  }, 90_000);
});
