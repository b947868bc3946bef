import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isOutpostError } from "@outpost/protocol";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SqliteRegistry } from "../src/registry/sqlite.js";
import { MAX_DELIVERY_EPOCHS, PERMISSIONS } from "../src/registry/types.js";

function expectCode(fn: () => unknown, code: string): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(isOutpostError(caught, code as never), `expected ${code}, got ${String(caught)}`).toBe(true);
}

describe("registry", () => {
  let clock = 1_000_000;
  let reg: SqliteRegistry;
  beforeEach(() => {
    clock = 1_000_000;
    reg = new SqliteRegistry(":memory:", { now: () => clock });
  });
  afterEach(() => reg.close());

  it("registry - a transaction applies all of its writes or none", () => {
    reg.createDevice("tx-dev");
    reg.assignThing("tx-thing", "tx-dev");
    const state = { thing: "tx-thing", name: "p", value: 1, timestampMs: 1, quality: "good" as const, receivedAt: 1 };
    expect(() =>
      reg.transaction(() => {
        reg.setProperty(state);
        reg.setDelivery("tx-dev", 0, { runs: [[1, 7]], base: 0 });
        throw new Error("crash in the middle of a batch");
      }),
    ).toThrow("crash in the middle");
    expect(reg.getProperties("tx-thing")).toEqual([]);
    expect(reg.getDelivery("tx-dev", 0)).toEqual({ runs: [], base: 0 });
    expect(
      reg.transaction(
        () => (reg.setProperty(state), reg.setDelivery("tx-dev", 0, { runs: [[1, 7]], base: 0 }), "done"),
      ),
    ).toBe("done");
    expect(reg.getProperties("tx-thing").map((p) => p.value)).toEqual([1]);
    expect(reg.getDelivery("tx-dev", 0).runs).toEqual([[1, 7]]);
  });

  it("registry - devices are created, listed, disabled", () => {
    const d = reg.createDevice("dev-1", "pump controller");
    expect(d).toEqual({ id: "dev-1", description: "pump controller", createdAt: clock, disabled: false });
    reg.createDevice("dev-0");
    expect(reg.listDevices().map((x) => x.id)).toEqual(["dev-0", "dev-1"]);
    reg.setDeviceDisabled("dev-1", true);
    expect(reg.getDevice("dev-1")?.disabled).toBe(true);
    expect(reg.getDevice("nope")).toBeUndefined();
    expectCode(() => reg.createDevice("dev-1"), "OUTPOST_CONFLICT");
    expectCode(() => reg.setDeviceDisabled("nope", true), "OUTPOST_NOT_FOUND");
    for (const bad of ["", "a b", "../x", "-x", "x".repeat(129), "é"])
      expectCode(() => reg.createDevice(bad), "OUTPOST_BAD_REQUEST");
  });

  it("registry - a created key checks ok and stores no secret", () => {
    reg.createDevice("dev-1");
    const { key, record } = reg.createKey("dev-1", { label: "factory" });
    expect(record).toMatchObject({ deviceId: "dev-1", label: "factory", expiresAt: null, revokedAt: null });
    expect(key.startsWith(`opk_${record.keyId}_`)).toBe(true);
    clock += 5;
    const r = reg.checkKey(key);
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.key.lastUsedAt).toBe(clock);
    expect(reg.listKeys("dev-1")[0]?.lastUsedAt).toBe(clock);
    expect(JSON.stringify(reg.listKeys("dev-1"))).not.toContain(key.slice(21));
    expectCode(() => reg.createKey("nope"), "OUTPOST_NOT_FOUND");
    expectCode(() => reg.createKey("dev-1", { ttlMs: -1 }), "OUTPOST_BAD_REQUEST");
  });

  it("registry - checkKey reasons: malformed, unknown, mismatch", () => {
    reg.createDevice("dev-1");
    const { key, record } = reg.createKey("dev-1");
    expect(reg.checkKey("garbage")).toEqual({ ok: false, reason: "malformed" });
    expect(reg.checkKey(undefined as unknown as string)).toEqual({ ok: false, reason: "malformed" });
    const otherId = `opk_${"A".repeat(16)}_${key.slice(21)}`;
    expect(reg.checkKey(otherId)).toEqual({ ok: false, reason: "unknown", keyId: "A".repeat(16) });
    const last = key.at(-1) === "A" ? "B" : "A";
    expect(reg.checkKey(key.slice(0, -1) + last)).toEqual({
      ok: false,
      reason: "mismatch",
      keyId: record.keyId,
      deviceId: record.deviceId,
    });
  });

  it("registry - checkKey reasons: revoked, expired, device-disabled", () => {
    reg.createDevice("dev-1");
    const a = reg.createKey("dev-1");
    expect(reg.revokeKey(a.record.keyId)).toBe(true);
    expect(reg.revokeKey(a.record.keyId)).toBe(false);
    expect(reg.revokeKey("unknown")).toBe(false);
    expect(reg.checkKey(a.key)).toMatchObject({ ok: false, reason: "revoked" });
    expect(reg.listKeys("dev-1")[0]?.revokedAt).toBe(clock);

    const b = reg.createKey("dev-1", { ttlMs: 1000 });
    expect(b.record.expiresAt).toBe(clock + 1000);
    expect(reg.checkKey(b.key, clock + 999).ok).toBe(true);
    expect(reg.checkKey(b.key, clock + 1000)).toMatchObject({ ok: false, reason: "expired" });

    const c = reg.createKey("dev-1");
    reg.setDeviceDisabled("dev-1", true);
    expect(reg.checkKey(c.key)).toMatchObject({ ok: false, reason: "device-disabled" });
    reg.setDeviceDisabled("dev-1", false);
    expect(reg.checkKey(c.key).ok).toBe(true);
  });

  it("registry - Things are assigned, listed, reassigned", () => {
    reg.createDevice("dev-1");
    reg.createDevice("dev-2");
    expect(reg.assignThing("site/pump-1", "dev-1", "pump")).toEqual({
      name: "site/pump-1",
      deviceId: "dev-1",
      description: "pump",
    });
    reg.assignThing("valve", "dev-2");
    expect(reg.listThings().map((t) => t.name)).toEqual(["site/pump-1", "valve"]);
    expect(reg.listThings("dev-1").map((t) => t.name)).toEqual(["site/pump-1"]);
    reg.assignThing("site/pump-1", "dev-2");
    expect(reg.getThing("site/pump-1")).toEqual({ name: "site/pump-1", deviceId: "dev-2", description: "pump" });
    expect(reg.getThing("none")).toBeUndefined();
    expectCode(() => reg.assignThing("x", "nope"), "OUTPOST_NOT_FOUND");
    expectCode(() => reg.assignThing("*", "dev-1"), "OUTPOST_BAD_REQUEST");
  });

  it("registry - a device holds every permission on its own Things only", () => {
    reg.createDevice("dev-1");
    reg.createDevice("dev-2");
    reg.assignThing("pump", "dev-1");
    reg.assignThing("valve", "dev-2");
    const d1 = { kind: "device", id: "dev-1" } as const;
    for (const p of PERMISSIONS) {
      expect(reg.can(d1, "pump", p)).toBe(true);
      expect(reg.can(d1, "valve", p)).toBe(false);
    }
    expect(reg.can(d1, "unknown-thing", "event.emit")).toBe(false);
    expect(reg.can({ kind: "device", id: "ghost" }, "pump", "event.emit")).toBe(false);
    expect(reg.can(d1, "pump", "bogus" as never)).toBe(false);
    reg.setDeviceDisabled("dev-1", true);
    expect(reg.can(d1, "pump", "event.emit")).toBe(false);
  });

  it("registry - restrict removes one default permission and grant gives it back", () => {
    reg.createDevice("dev-1");
    reg.assignThing("pump", "dev-1");
    const d1 = { kind: "device", id: "dev-1" } as const;
    reg.restrict("dev-1", "pump", "service.execute");
    expect(reg.can(d1, "pump", "service.execute")).toBe(false);
    expect(reg.can(d1, "pump", "event.emit")).toBe(true);
    reg.unrestrict("dev-1", "pump", "service.execute");
    expect(reg.can(d1, "pump", "service.execute")).toBe(true);
    reg.restrict("dev-1", "pump", "service.execute");
    reg.grant(d1, "pump", "service.execute");
    expect(reg.can(d1, "pump", "service.execute")).toBe(true);
    expectCode(() => reg.restrict("dev-1", "other", "event.emit"), "OUTPOST_NOT_FOUND");
  });

  it("registry - operators: admin holds all, others only what was granted", () => {
    reg.createDevice("dev-1");
    reg.assignThing("pump", "dev-1");
    reg.assignThing("valve", "dev-1");
    reg.createOperator("root", true);
    reg.createOperator("alice", false);
    const root = { kind: "operator", id: "root" } as const;
    const alice = { kind: "operator", id: "alice" } as const;
    expect(reg.can(root, "pump", "property.write")).toBe(true);
    expect(reg.can(root, "anything", "service.execute")).toBe(true);
    expect(reg.can(alice, "pump", "property.read")).toBe(false);
    reg.grant(alice, "pump", "property.read");
    expect(reg.can(alice, "pump", "property.read")).toBe(true);
    expect(reg.can(alice, "pump", "property.write")).toBe(false);
    expect(reg.can(alice, "valve", "property.read")).toBe(false);
    reg.grant(alice, "*", "service.execute");
    expect(reg.can(alice, "valve", "service.execute")).toBe(true);
    expect(reg.can(alice, "*", "service.execute")).toBe(false);
    expect(reg.listGrants(alice)).toHaveLength(2);
    reg.revoke(alice, "pump", "property.read");
    expect(reg.can(alice, "pump", "property.read")).toBe(false);
    expect(reg.can({ kind: "operator", id: "ghost" }, "pump", "property.read")).toBe(false);
    expectCode(() => reg.grant(alice, "missing", "property.read"), "OUTPOST_NOT_FOUND");
    expectCode(() => reg.grant({ kind: "operator", id: "ghost" }, "pump", "property.read"), "OUTPOST_NOT_FOUND");
    expectCode(() => reg.grant(alice, "pump", "root" as never), "OUTPOST_BAD_REQUEST");
    expectCode(() => reg.grant({ kind: "robot" } as never, "pump", "property.read"), "OUTPOST_BAD_REQUEST");
  });

  it("registry - a device can be granted access to another device's Thing", () => {
    reg.createDevice("dev-1");
    reg.createDevice("dev-2");
    reg.assignThing("valve", "dev-2");
    const d1 = { kind: "device", id: "dev-1" } as const;
    reg.grant(d1, "valve", "property.read");
    expect(reg.can(d1, "valve", "property.read")).toBe(true);
    expect(reg.can(d1, "valve", "property.write")).toBe(false);
  });

  it("registry - operator tokens check with reasons and can be rotated", () => {
    const { token, record } = reg.createOperator("alice", false);
    expect(record).toEqual({ name: "alice", admin: false, createdAt: clock });
    expect(reg.checkOperator(token)).toEqual({ ok: true, operator: record });
    expect(reg.checkOperator("opk_x")).toEqual({ ok: false, reason: "malformed" });
    expect(reg.checkOperator(`opt_${"B".repeat(16)}_${token.slice(21)}`)).toEqual({ ok: false, reason: "unknown" });
    const last = token.at(-1) === "A" ? "B" : "A";
    expect(reg.checkOperator(token.slice(0, -1) + last)).toEqual({ ok: false, reason: "mismatch" });
    const second = reg.createOperatorToken("alice");
    expect(reg.revokeOperatorToken(token.slice(4, 20))).toBe(true);
    expect(reg.checkOperator(token)).toEqual({ ok: false, reason: "revoked" });
    expect(reg.checkOperator(second.token).ok).toBe(true);
    expect(reg.listOperators().map((o) => o.name)).toEqual(["alice"]);
    expectCode(() => reg.createOperator("alice", true), "OUTPOST_CONFLICT");
    expectCode(() => reg.createOperatorToken("bob"), "OUTPOST_NOT_FOUND");
  });

  it("registry - properties keep the latest value per name as JSON", () => {
    const base = { thing: "pump", quality: "good", receivedAt: 5 } as const;
    reg.setProperty({ ...base, name: "speed", value: 10, timestampMs: 1 });
    reg.setProperty({ ...base, name: "speed", value: 12.5, timestampMs: 2 });
    reg.setProperty({ ...base, name: "cfg", value: { a: [1, "x", null], $bytes: "AAE=" }, timestampMs: 3 });
    reg.setProperty({ ...base, name: "big", value: 2n ** 70n, timestampMs: 3 });
    expect(reg.getProperties("pump")).toEqual([
      { ...base, name: "big", value: "1180591620717411303424", timestampMs: 3 },
      { ...base, name: "cfg", value: { a: [1, "x", null], $bytes: "AAE=" }, timestampMs: 3 },
      { ...base, name: "speed", value: 12.5, timestampMs: 2 },
    ]);
    expect(reg.getProperties("other")).toEqual([]);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expectCode(() => reg.setProperty({ ...base, name: "c", value: cyclic, timestampMs: 1 }), "OUTPOST_BAD_REQUEST");
  });

  it("registry - delivery records default to empty and are stored per device and epoch", () => {
    expect(reg.getDelivery("dev-1", 5)).toEqual({ runs: [], base: 0 });
    reg.setDelivery("dev-1", 5, { runs: [[1, 42]], base: 0 });
    reg.setDelivery("dev-1", 6, { runs: [[3, 4]], base: 2 });
    reg.setDelivery("dev-2", 5, { runs: [[1, 7]], base: 0 });
    expect(reg.getDelivery("dev-1", 5)).toEqual({ runs: [[1, 42]], base: 0 });
    expect(reg.getDelivery("dev-1", 6)).toEqual({ runs: [[3, 4]], base: 2 });
    expect(reg.getDelivery("dev-2", 5)).toEqual({ runs: [[1, 7]], base: 0 });
    expectCode(() => reg.setDelivery("dev-1", 5, { runs: [[-1, 3]], base: 0 }), "OUTPOST_BAD_REQUEST");
    expectCode(() => reg.setDelivery("dev-1", 2 ** 60, { runs: [], base: 0 }), "OUTPOST_BAD_REQUEST");
  });

  it("registry - a device's oldest queue epochs are forgotten beyond the limit", () => {
    let now = 1;
    const timed = new SqliteRegistry(":memory:", { now: () => now++ });
    try {
      for (let epoch = 1; epoch <= MAX_DELIVERY_EPOCHS + 3; epoch++)
        timed.setDelivery("dev-9", epoch, { runs: [[1, 1]], base: 0 });
      expect(timed.getDelivery("dev-9", 3).runs).toEqual([]);
      expect(timed.getDelivery("dev-9", 4).runs).toEqual([[1, 1]]);
      expect(timed.getDelivery("dev-9", MAX_DELIVERY_EPOCHS + 3).runs).toEqual([[1, 1]]);
    } finally {
      timed.close();
    }
  });
});

describe("registry file", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "outpost-reg-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("registry - data survives reopening a file database", () => {
    const path = join(dir, "registry.db");
    const a = new SqliteRegistry(path);
    a.createDevice("dev-1");
    const { key } = a.createKey("dev-1");
    a.close();
    const b = new SqliteRegistry(path);
    expect(b.checkKey(key).ok).toBe(true);
    b.close();
  });

  it("registry - every commit is synced, also after reopening a database already in WAL mode", () => {
    const path = join(dir, "registry.db");
    const first = new SqliteRegistry(path);
    expect(first.storageSettings()).toEqual({ journalMode: "wal", synchronous: "full" });
    first.close();
    const again = new SqliteRegistry(path);
    expect(again.storageSettings()).toEqual({ journalMode: "wal", synchronous: "full" });
    again.close();
  });

  it("registry - a login writes nothing itself: the key's last use is written behind, and on close", () => {
    const path = join(dir, "registry.db");
    const reg = new SqliteRegistry(path, { now: () => 1234 });
    reg.createDevice("dev-1");
    const { key, record } = reg.createKey("dev-1");
    const other = new Database(path);
    const version = () => other.pragma("data_version", { simple: true });
    const before = version();
    expect(reg.checkKey(key).ok).toBe(true);
    expect(version()).toBe(before);
    expect(reg.getKey(record.keyId)?.lastUsedAt).toBe(1234);
    reg.close();
    expect(version()).not.toBe(before);
    other.close();
    const again = new SqliteRegistry(path);
    expect(again.getKey(record.keyId)?.lastUsedAt).toBe(1234);
    again.close();
  });

  it("registry - a version 2 delivery watermark migrates to an epoch 0 record it cannot vouch for", () => {
    const path = join(dir, "v1.db");
    new SqliteRegistry(path).close();
    const db = new Database(path);
    db.exec(`DROP TABLE desired_properties; DROP TABLE file_transfers; DROP TABLE delivery_epochs;
      DROP TABLE login_tokens; DROP TABLE operator_passwords;
      DROP TABLE visibility; DROP TABLE org_unit_members; DROP TABLE org_units; DROP TABLE organizations; DROP TABLE access_entries; DROP TABLE access_group_members; DROP TABLE access_groups;
      CREATE TABLE delivery (device_id TEXT PRIMARY KEY, seq INTEGER NOT NULL);
      INSERT INTO delivery VALUES ('dev-1', 42); DELETE FROM schema_version; INSERT INTO schema_version VALUES (2);`);
    db.close();
    const migrated = new SqliteRegistry(path);
    expect(migrated.getDelivery("dev-1", 0)).toEqual({ runs: [], base: 42 });
    migrated.close();
  });

  it("registry - an unopenable path is a typed config error", () => {
    expectCode(() => new SqliteRegistry(join(dir, "missing", "sub", "registry.db")), "OUTPOST_INVALID_CONFIG");
  });
});
