import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { EdgeClient, silentLogger } from "@outpost/sdk";
import { MemoryAuditLog, type OutpostServer, SqliteRegistry, startServer, TicketKeyFile } from "@outpost/server";

import { afterAll, beforeAll, describe, expect, it } from "vitest";
// The benchmarks' fixture: onboarded devices without a CLI run each.
import { createFixture } from "../../bench/lib/outpost-fixture.mjs";
import { waitUntil } from "../helpers/wait.js";

interface Fixture {
  dir: string;
  paths: { registry: string; serverCert: string; serverKey: string };
  caPem: string;
  deviceKeyPem: string;
  devices: Array<{ id: string; thing: string; appKey: string; certPem: string }>;
  remove(): void;
}

describe("TLS resumption - devices resume their sessions across a server restart", () => {
  let fx: Fixture;
  let registry: SqliteRegistry;
  let audit: MemoryAuditLog;
  let server: OutpostServer | undefined;
  let port = 0;
  const ticketPath = () => join(fx.dir, "tls", "ticket-keys.json");

  const start = async (): Promise<OutpostServer> => {
    // A new TLS context each time, as after a restart; only the ticket key file carries over.
    server = await startServer({
      registry,
      audit,
      edge: {
        port,
        certPem: readFileSync(fx.paths.serverCert, "utf8"),
        keyPem: readFileSync(fx.paths.serverKey, "utf8"),
        clientCaPem: fx.caPem,
        revalidateIntervalMs: 200,
        ticketKeys: new TicketKeyFile(ticketPath(), { maxAgeMs: 86_400_000 }),
      },
    });
    port = Number(new URL(server.edgeUrl).port);
    return server;
  };

  const client = (d: Fixture["devices"][number]) => {
    const c = new EdgeClient({
      url: server!.edgeUrl,
      appKey: d.appKey,
      tls: { ca: fx.caPem, cert: d.certPem, key: fx.deviceKeyPem },
      reconnect: { initialDelayMs: 50, maxDelayMs: 200 },
      logger: silentLogger,
    });
    c.thing(d.thing).property("value", { type: "number", initial: 1 });
    c.on("error", () => undefined);
    return c;
  };

  const logins = (deviceId: string) =>
    audit.ofType("login.success").filter((r) => (r.details as { deviceId?: string }).deviceId === deviceId);

  beforeAll(async () => {
    fx = (await createFixture({ devices: 2 })) as Fixture;
    registry = new SqliteRegistry(fx.paths.registry);
    audit = new MemoryAuditLog();
  });

  afterAll(async () => {
    await server?.close();
    registry?.close();
    fx?.remove();
  });

  it("TLS resumption - the reconnect after a restart resumes, and the server sees the same device certificate", async () => {
    await start();
    expect(statSync(ticketPath()).mode & 0o777).toBe(0o600);
    const d = fx.devices[0]!;
    const c = client(d);
    try {
      await c.connect();
      await server!.close();
      await waitUntil("the client to notice", () => c.status.type !== "connected");
      await start();
      await waitUntil("reconnected", () => c.status.type === "connected", { timeoutMs: 15_000 });
      const records = logins(d.id);
      expect(records.map((r) => (r.details as { tlsResumed: boolean }).tlsResumed)).toEqual([false, true]);
      // The login succeeds only when the certificate's identity is the key's device.
      expect(records[1]!.details).toMatchObject({ deviceId: d.id, clientCert: true });
    } finally {
      await c.close({ flush: false });
    }
  });

  it("TLS resumption - a certificate revoked meanwhile is refused on a resumed handshake", async () => {
    const d = fx.devices[1]!;
    const c = client(d);
    try {
      await c.connect();
      // Only the certificate: the application key stays valid, so the TLS gate alone must refuse.
      registry.revokeCertificates(d.id);
      await server!.close();
      await waitUntil("the client to notice", () => c.status.type !== "connected");
      await start();
      const refused = await waitUntil(
        "a refused handshake",
        () =>
          audit
            .ofType("login.failure")
            .find((r) => (r.details as { certDeviceId?: string; reason?: string }).certDeviceId === d.id),
        { timeoutMs: 10_000 },
      );
      expect(refused.details).toMatchObject({ stage: "tls-handshake", reason: "revoked", tlsResumed: true });
      expect(logins(d.id)).toHaveLength(1);
    } finally {
      await c.close({ flush: false });
    }
  });
});
