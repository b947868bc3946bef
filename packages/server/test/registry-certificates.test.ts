import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SCHEMA_VERSION } from "../src/registry/schema.js";
import { SqliteRegistry } from "../src/registry/sqlite.js";

const cert = (serialNumber: string) => ({
  serialNumber,
  fingerprint256: "AB:CD",
  notAfter: new Date(Date.now() + 86_400_000),
});

describe("registry certificates", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "outpost-reg-certs-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("registry - recorded certificates are listed, revoked with their device, and later ones are not", () => {
    const reg = new SqliteRegistry(join(dir, "r.db"));
    try {
      reg.createDevice("dev-1");
      reg.recordCertificate("dev-1", cert("0A1B"));
      expect(reg.certificateStatus("dev-1", "0a1b")).toBe("ok");
      expect(reg.certificateStatus("dev-1", "FFFF")).toBe("ok");
      expect(reg.certificateStatus("dev-9", "0A1B")).toBe("unknown-device");
      expect(reg.revokeCertificates("dev-1")).toBe(1);
      expect(reg.certificateStatus("dev-1", "0A1B")).toBe("revoked");
      // A certificate never recorded (made before serials were recorded) is revoked with the device.
      expect(reg.certificateStatus("dev-1", "FFFF")).toBe("revoked");
      reg.recordCertificate("dev-1", cert("0C"));
      expect(reg.certificateStatus("dev-1", "0C")).toBe("ok");
      expect(reg.listCertificates("dev-1").map((c) => [c.serialNumber, c.revokedAt !== null])).toEqual([
        ["0A1B", true],
        ["0C", false],
      ]);
      reg.setDeviceDisabled("dev-1", true);
      expect(reg.certificateStatus("dev-1", "0C")).toBe("device-disabled");
    } finally {
      reg.close();
    }
  });

  it("registry - a revocation by another process reaches the cached certificate status", async () => {
    const server = new SqliteRegistry(join(dir, "r.db"));
    const cli = new SqliteRegistry(join(dir, "r.db"));
    /** The status once it differs from `from`, polled for at most 2 s (the cache re-checks every 250 ms). */
    const changed = async (deviceId: string, serial: string, from: string) => {
      for (let i = 0; i < 100 && server.certificateStatus(deviceId, serial) === from; i++) {
        await new Promise((r) => setTimeout(r, 20));
      }
      return server.certificateStatus(deviceId, serial);
    };
    try {
      cli.createDevice("dev-1");
      cli.recordCertificate("dev-1", cert("01"));
      expect(await changed("dev-1", "01", "unknown-device")).toBe("ok");
      cli.revokeCertificates("dev-1");
      expect(await changed("dev-1", "01", "ok")).toBe("revoked");
      cli.createDevice("dev-2");
      cli.setDeviceDisabled("dev-2", true);
      expect(await changed("dev-2", "02", "unknown-device")).toBe("device-disabled");
    } finally {
      server.close();
      cli.close();
    }
  });

  it("registry - a version 1 data directory is migrated and keeps its devices", () => {
    const path = join(dir, "old.db");
    new SqliteRegistry(path).close();
    const db = new Database(path);
    db.exec("DROP TABLE certificates; ALTER TABLE devices DROP COLUMN certs_revoked_at;");
    db.exec("DROP TABLE desired_properties;");
    db.exec("DROP TABLE file_transfers;");
    db.exec("DROP TABLE login_tokens; DROP TABLE operator_passwords;");
    db.exec(
      "DROP TABLE visibility; DROP TABLE org_unit_members; DROP TABLE org_units; DROP TABLE organizations; DROP TABLE access_entries; DROP TABLE access_group_members; DROP TABLE access_groups;",
    );
    db.exec("DROP TABLE delivery_epochs; CREATE TABLE delivery (device_id TEXT PRIMARY KEY, seq INTEGER NOT NULL);");
    db.exec("DELETE FROM schema_version; INSERT INTO schema_version (version) VALUES (1);");
    db.prepare("INSERT INTO devices (id, description, created_at) VALUES ('old-dev', '', 1)").run();
    db.close();
    const reg = new SqliteRegistry(path);
    try {
      expect(reg.getDevice("old-dev")?.id).toBe("old-dev");
      expect(reg.certificateStatus("old-dev", "99")).toBe("ok");
      reg.revokeCertificates("old-dev");
      expect(reg.certificateStatus("old-dev", "99")).toBe("revoked");
    } finally {
      reg.close();
    }
    const check = new Database(path);
    expect((check.prepare("SELECT MAX(version) AS v FROM schema_version").get() as { v: number }).v).toBe(
      SCHEMA_VERSION,
    );
    check.close();
  });
});
