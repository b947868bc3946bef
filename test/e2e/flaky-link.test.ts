import { EdgeClient } from "@outpost/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FaultProxy } from "../helpers/fault-proxy.js";
import { type DeviceBundle, ServerProcess } from "../helpers/server-process.js";
import { openEventStream } from "../helpers/sse.js";
import { waitUntil } from "../helpers/wait.js";

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

    const client = new EdgeClient({
      url: `wss://127.0.0.1:${proxy.port}`,
      appKey: bundle.appKey,
      tls: { ca: bundle.ca, cert: bundle.cert, key: bundle.key },
      reconnect: { initialDelayMs: 20, maxDelayMs: 200 },
      maxBatch: 20,
    });
    const sensor = client.thing("sensor-1");
    await client.connect();
    const cutter = setInterval(() => proxy.cutAll(), 100);
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
    expect(missing).toEqual([]);
    expect(duplicated).toEqual([]);
  }, 90_000);
});
