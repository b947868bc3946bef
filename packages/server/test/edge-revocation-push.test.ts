import { asyncRegistryOf } from "../src/registry/async-sqlite.js";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GoodbyeReason } from "@outpost/protocol";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { MemoryAuditLog } from "../src/audit/memory-audit-log.js";
import { ACCESS_SCHEMA } from "../src/registry/access-schema.js";
import { SCHEMA_VERSION } from "../src/registry/schema.js";
import { SqliteRegistry } from "../src/registry/sqlite.js";
import { startServer } from "../src/server.js";
import { connectDevice, makePki, type TestDevice, type TestPki } from "./edge-harness.js";

const IDS = ["rv-1", "rv-2", "rv-3", "rv-4", "rv-5", "rv-6"];

/** A server on a registry file, with a second connection to the same file standing in for the CLI. */
async function start(pki: TestPki, dir: string, revalidateIntervalMs: number) {
  const path = join(dir, `registry-${revalidateIntervalMs}.db`);
  const registry = new SqliteRegistry(path);
  const keys: Record<string, string> = {};
  for (const id of IDS) {
    registry.createDevice(id);
    keys[id] = registry.createKey(id).key;
    registry.assignThing(`t-${id}`, id);
  }
  const server = await startServer({
    registry,
    audit: new MemoryAuditLog(),
    edge: {
      port: 0,
      certPem: pki.serverCertPem,
      keyPem: pki.serverKeyPem,
      clientCaPem: pki.caPem,
      revalidateIntervalMs,
      pingIntervalMs: 0,
    },
  });
  const cli = new SqliteRegistry(path);
  return {
    server,
    registry,
    cli,
    keys,
    async ready(id: string): Promise<TestDevice> {
      const d = await connectDevice(server.edgeUrl, pki.caPem, pki.devices[id]);
      await d.hello();
      expect((await d.auth(keys[id]!)).authResult?.status).toBe(200);
      return d;
    },
    async close() {
      await server.close();
      cli.close();
      registry.close();
    },
  };
}

type Started = Awaited<ReturnType<typeof start>>;

describe("edge revocation push", () => {
  let pki: TestPki;
  let dir: string;

  beforeAll(() => {
    pki = makePki(IDS);
    dir = mkdtempSync(join(tmpdir(), "outpost-revocation-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  describe("a revocation made through the server's registry", () => {
    let s: Started;
    // An hour between checks: only the push can cut the session within the test.
    beforeAll(async () => {
      s = await start(pki, dir, 3_600_000);
    });
    afterAll(() => s?.close());

    it("edge - revoking a key through the server's registry closes its session at once", async () => {
      const d = await s.ready("rv-1");
      const keyId = s.keys["rv-1"]!.slice(4, 20);
      expect(s.registry.revokeKey(keyId)).toBe(true);
      const goodbye = await d.goodbye();
      expect(goodbye?.goodbye?.reason).toBe(GoodbyeReason.AUTH_REVOKED);
      expect(goodbye?.goodbye?.message).toBe("application key revoked");
    });

    it("edge - disabling a device through the server's registry closes its session at once", async () => {
      const d = await s.ready("rv-2");
      s.registry.setDeviceDisabled("rv-2", true);
      expect((await d.goodbye())?.goodbye?.message).toBe("device disabled");
    });
  });

  describe("a revocation made by another process", () => {
    let s: Started;
    beforeAll(async () => {
      s = await start(pki, dir, 100);
    });
    afterAll(() => s?.close());

    it("edge - idle sessions cost no registry reads; a key revoked elsewhere closes only its session", async () => {
      const d3 = await s.ready("rv-3");
      const d4 = await s.ready("rv-4");
      // The sessions read the registry through its asynchronous view.
      const getKey = vi.spyOn(asyncRegistryOf(s.registry), "getKey");
      const getDevice = vi.spyOn(asyncRegistryOf(s.registry), "getDevice");
      try {
        // Several check intervals with two idle sessions.
        await new Promise((r) => setTimeout(r, 600));
        expect(getKey).not.toHaveBeenCalled();
        expect(getDevice).not.toHaveBeenCalled();
        s.cli.revokeKey(s.keys["rv-3"]!.slice(4, 20));
        expect((await d3.goodbye())?.goodbye?.message).toBe("application key revoked");
        expect(getKey.mock.calls.map((c) => c[0])).toEqual([s.keys["rv-3"]!.slice(4, 20)]);
        expect(d4.ws.readyState).toBe(d4.ws.OPEN);
      } finally {
        getKey.mockRestore();
        getDevice.mockRestore();
        await d4.close();
      }
    });

    it("edge - revoking a device's certificates elsewhere closes its session", async () => {
      const d = await s.ready("rv-5");
      expect(s.cli.revokeCertificates("rv-5")).toBe(0);
      expect((await d.goodbye())?.goodbye?.message).toBe("certificate revoked");
    });

    it("edge - a key that expires closes its session", async () => {
      s.keys["rv-6"] = s.registry.createKey("rv-6", { ttlMs: 1_500 }).key;
      const d = await s.ready("rv-6");
      expect((await d.goodbye())?.goodbye?.message).toBe("application key expired");
    });
  });
});

describe("registry revocation log", () => {
  it("registry - a version 6 database is migrated to the revocation log, written by every connection", () => {
    const dir = mkdtempSync(join(tmpdir(), "outpost-revocation-v6-"));
    try {
      const path = join(dir, "v6.db");
      const first = new SqliteRegistry(path);
      first.createDevice("old-dev");
      const { record } = first.createKey("old-dev");
      first.close();
      const db = new Database(path);
      for (const { name } of db.prepare("SELECT name FROM sqlite_master WHERE type = 'trigger'").all() as {
        name: string;
      }[])
        db.exec(`DROP TRIGGER ${name}`);
      // A version 6 layout: without the revocation log (7) and the access model (8).
      for (const [, table] of ACCESS_SCHEMA.matchAll(/CREATE TABLE (?:IF NOT EXISTS )?(\w+)/g))
        db.exec(`DROP TABLE IF EXISTS ${table}`);
      db.exec("DROP TABLE revocations; DELETE FROM schema_version; INSERT INTO schema_version VALUES (6);");
      db.close();
      const server = new SqliteRegistry(path);
      const cli = new SqliteRegistry(path);
      try {
        const cursor = server.revocations.cursor();
        expect(cursor).toBe(0);
        expect(server.revocations.mayHaveChanged()).toBe(false);
        cli.revokeKey(record.keyId);
        cli.setDeviceDisabled("old-dev", true);
        cli.revokeCertificates("old-dev");
        expect(server.revocations.mayHaveChanged()).toBe(true);
        expect(server.revocations.since(cursor).map((e) => [e.kind, e.subject])).toEqual([
          ["key", record.keyId],
          ["device", "old-dev"],
          ["device", "old-dev"],
        ]);
        expect(server.revocations.mayHaveChanged()).toBe(false);
        expect(server.revocations.prune(Date.now() + 2_000)).toBe(3);
      } finally {
        cli.close();
        server.close();
      }
      const check = new Database(path);
      expect((check.prepare("SELECT MAX(version) AS v FROM schema_version").get() as { v: number }).v).toBe(
        SCHEMA_VERSION,
      );
      check.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
