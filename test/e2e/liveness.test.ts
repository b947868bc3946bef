import { readFileSync } from "node:fs";
import { type ConnectionStatus, EdgeClient, silentLogger } from "@outpost/sdk";
import { MemoryAuditLog, type OutpostServer, SqliteRegistry, startServer } from "@outpost/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
// The benchmarks' fixture: onboarded devices without a CLI run each.
import { createFixture } from "../../bench/lib/outpost-fixture.mjs";
import { FaultProxy } from "../helpers/fault-proxy.js";
import { waitUntil } from "../helpers/wait.js";

interface Fixture {
  paths: { registry: string; serverCert: string; serverKey: string };
  caPem: string;
  deviceKeyPem: string;
  devices: Array<{ id: string; thing: string; appKey: string; certPem: string }>;
  remove(): void;
}

const PING_MS = 200;

/** Pings sent through `ws` in this process, by side (the server's sockets and the SDK's share the one `ws` module). */
const sent = { server: 0, device: 0 };
const pongsToServer = { n: 0 };
const watched = new WeakSet<WebSocket>();
const originalPing = WebSocket.prototype.ping;

describe("liveness - the server pings, the device watches for silence", () => {
  let fx: Fixture;
  let registry: SqliteRegistry;
  let server: OutpostServer;

  beforeAll(async () => {
    WebSocket.prototype.ping = function (this: WebSocket & { _isServer: boolean }, ...args: unknown[]) {
      if (this._isServer) {
        sent.server++;
        if (!watched.has(this)) {
          watched.add(this);
          this.on("pong", () => pongsToServer.n++);
        }
      } else sent.device++;
      return (originalPing as (...a: unknown[]) => void).apply(this, args);
    } as typeof WebSocket.prototype.ping;
    fx = await createFixture({ devices: 2 });
    registry = new SqliteRegistry(fx.paths.registry);
    server = await startServer({
      registry,
      audit: new MemoryAuditLog(),
      edge: {
        port: 0,
        certPem: readFileSync(fx.paths.serverCert, "utf8"),
        keyPem: readFileSync(fx.paths.serverKey, "utf8"),
        clientCaPem: fx.caPem,
        pingIntervalMs: PING_MS,
      },
    });
  });

  afterAll(async () => {
    WebSocket.prototype.ping = originalPing;
    await server?.close();
    registry?.close();
    fx?.remove();
  });

  const client = (d: Fixture["devices"][number], url: string) => {
    const c = new EdgeClient({
      url,
      appKey: d.appKey,
      tls: { ca: fx.caPem, cert: d.certPem, key: fx.deviceKeyPem },
      reconnect: { initialDelayMs: 50, maxDelayMs: 200 },
      logger: silentLogger,
    });
    c.thing(d.thing).property("value", { type: "number", initial: 1 });
    c.on("error", () => undefined);
    return c;
  };

  it("liveness - an idle connection carries one ping per server interval, answered, and none from the device", async () => {
    const c = client(fx.devices[0]!, server.edgeUrl);
    await c.connect();
    try {
      const start = { server: sent.server, device: sent.device, at: Date.now() };
      await waitUntil("6 server pings", () => sent.server - start.server >= 6, { timeoutMs: 30_000 });
      const pings = sent.server - start.server;
      const elapsed = Date.now() - start.at;
      expect(sent.device - start.device).toBe(0);
      // A loaded machine fires timers late, never early: at most one ping per interval elapsed.
      expect(pings).toBeLessThanOrEqual(Math.floor(elapsed / PING_MS) + 1);
      await waitUntil("the pongs", () => pongsToServer.n >= sent.server - 1);
      expect(c.status.type).toBe("connected");
    } finally {
      await c.close();
    }
  });

  it("liveness - over a link that silently drops everything, the server and the device both cut the connection", async () => {
    const proxy = await FaultProxy.start(Number(new URL(server.edgeUrl).port));
    const c = client(fx.devices[1]!, `wss://127.0.0.1:${proxy.port}`);
    const seen: ConnectionStatus[] = [];
    const watching = (async () => {
      for await (const s of c.statusChanges()) seen.push(s);
    })();
    try {
      await c.connect();
      await waitUntil("one open edge connection", () => server.edgeAdmission.open === 1);
      const before = sent.server;
      await waitUntil("pings on the live link", () => sent.server >= before + 2);
      proxy.set({ blackhole: true });
      // The server misses a pong within two intervals; the device hears no ping for 2 intervals + 1 s.
      await waitUntil("the server to cut the dead link", () => server.edgeAdmission.open === 0);
      const lost = await waitUntil("the device to notice the silence", () =>
        seen.find((s) => s.type === "disconnected"),
      );
      expect(lost.type === "disconnected" && lost.error?.message).toMatch(/nothing heard from the server/);
      proxy.set({});
      await waitUntil("the device back", () => c.status.type === "connected" && server.edgeAdmission.open === 1);
    } finally {
      await c.close();
      await watching;
      await proxy.close();
    }
  });
});
