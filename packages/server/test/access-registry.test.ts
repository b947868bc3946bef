import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isOutpostError } from "@outpost/protocol";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AccessModelError } from "../src/access/model.js";
import { SqliteRegistry } from "../src/registry/sqlite.js";

const ACCESS_TABLES =
  "DROP TABLE visibility; DROP TABLE org_unit_members; DROP TABLE org_units; DROP TABLE organizations; DROP TABLE access_entries; DROP TABLE access_group_members; DROP TABLE access_groups;";

function refusedWith(fn: () => unknown, reason: string): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, `expected ${reason}`).toBeInstanceOf(AccessModelError);
  expect((caught as AccessModelError).reason).toBe(reason);
  expect(isOutpostError(caught, "OUTPOST_FORBIDDEN")).toBe(true);
}

describe("access registry", () => {
  let dir: string;
  let reg: SqliteRegistry;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "outpost-access-"));
    reg = new SqliteRegistry(join(dir, "registry.db"));
    reg.createDevice("dev-1");
    reg.createDevice("dev-2");
    reg.assignThing("pump", "dev-1");
    reg.assignThing("valve", "dev-2");
    reg.createOperator("root", true);
    reg.createOperator("alice", false);
  });
  afterEach(() => {
    reg.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("access - a version 7 registry migrates: admin flag, grants and restrictions keep their meaning", () => {
    reg.grant({ kind: "operator", id: "alice" }, "pump", "property.read");
    reg.grant({ kind: "operator", id: "alice" }, "*", "service.execute");
    reg.grant({ kind: "operator", id: "alice" }, "dev-2", "tunnel.open");
    reg.restrict("dev-1", "pump", "event.emit");
    reg.close();
    // Back to a version 7 layout: the old grants table holds the grants, no access tables.
    const db = new Database(join(dir, "registry.db"));
    db.exec(`DELETE FROM grants; INSERT INTO grants VALUES ('operator', 'alice', 'pump', 'property.read'),
      ('operator', 'alice', '*', 'service.execute'), ('operator', 'alice', 'dev-2', 'tunnel.open'),
      ('device', 'dev-1', 'valve', 'property.read');
      ${ACCESS_TABLES} DELETE FROM schema_version; INSERT INTO schema_version VALUES (7);`);
    db.close();
    reg = new SqliteRegistry(join(dir, "registry.db"));
    const alice = { kind: "operator", id: "alice" } as const;
    expect(reg.getOperator("root")?.admin).toBe(true);
    expect(reg.getOperator("alice")?.admin).toBe(false);
    expect(reg.access.getGroup("Administrators")?.members).toEqual([{ kind: "user", name: "root" }]);
    expect(reg.access.getGroup("Operators")?.members.map((m) => m.name)).toEqual(["alice", "root"]);
    expect(reg.access.getGroup("Devices")?.members.map((m) => m.name)).toEqual(["dev-1", "dev-2"]);
    expect(reg.can(alice, "pump", "property.read")).toBe(true);
    expect(reg.can(alice, "pump", "event.subscribe")).toBe(true);
    expect(reg.can(alice, "valve", "property.read")).toBe(false);
    expect(reg.can(alice, "valve", "service.execute")).toBe(true);
    expect(reg.can(alice, "dev-2", "tunnel.open")).toBe(true);
    expect(reg.can(alice, "dev-1", "tunnel.open")).toBe(false);
    expect(reg.can({ kind: "device", id: "dev-1" }, "valve", "property.read")).toBe(true);
    expect(reg.can({ kind: "device", id: "dev-1" }, "pump", "event.emit")).toBe(false);
    expect(reg.can({ kind: "device", id: "dev-1" }, "pump", "property.write")).toBe(true);
    expect(reg.can({ kind: "operator", id: "root" }, "valve", "property.write")).toBe(true);
  });

  it("access - a device is refused from Administrators and from design-time and device permissions", () => {
    const dev = { kind: "device", name: "dev-1" } as const;
    refusedWith(() => reg.access.addMember("Administrators", dev), "device-administrator");
    refusedWith(
      () => reg.access.addEntry("allow", dev, "update", { level: "thing", thing: "pump" }),
      "device-design-time",
    );
    refusedWith(
      () => reg.access.addEntry("allow", dev, "create", { level: "collection", collection: "things" }),
      "device-design-time",
    );
    refusedWith(
      () => reg.access.addEntry("allow", dev, "tunnel.open", { level: "device", device: "dev-2" }),
      "device-operator-permission",
    );
    expect(reg.access.getGroup("Administrators")?.members).toEqual([{ kind: "user", name: "root" }]);
    expect(reg.access.listEntries(dev)).toEqual([]);
    refusedWith(() => reg.access.deleteGroup("Devices"), "predefined-group");
  });

  it("access - entries decide with deny beating allow, and explain lists the entries", () => {
    const alice = { kind: "operator", id: "alice" } as const;
    reg.access.createGroup("viewers");
    reg.access.addMember("viewers", { kind: "user", name: "alice" });
    const allow = reg.access.addEntry("allow", { kind: "group", name: "viewers" }, "property.read", {
      level: "collection",
      collection: "things",
    });
    expect(reg.can(alice, "pump", "property.read")).toBe(true);
    expect(reg.can(alice, "pump", "property.read", "secret")).toBe(true);
    const deny = reg.access.addEntry("deny", { kind: "user", name: "alice" }, "property.read", {
      level: "member",
      thing: "pump",
      member: "secret",
    });
    expect(reg.can(alice, "pump", "property.read", "secret")).toBe(false);
    expect(reg.can(alice, "pump", "property.read", "speed")).toBe(true);
    const d = reg.access.decide({ principal: alice, permission: "property.read", target: "pump", member: "secret" });
    expect(d).toMatchObject({ allowed: false, reason: "deny", groups: ["Operators", "viewers"] });
    expect(d.entries.map((e) => e.id)).toEqual([deny.id]);
    expect(
      reg.access.decide({ principal: alice, permission: "property.read", target: "pump" }).entries.map((e) => e.id),
    ).toEqual([allow.id]);
    reg.access.removeEntry(deny.id);
    expect(reg.can(alice, "pump", "property.read", "secret")).toBe(true);
    // External groups from a directory count like stored ones.
    reg.access.createGroup("ldap-ops");
    reg.access.addEntry("allow", { kind: "group", name: "ldap-ops" }, "property.write", {
      level: "thing",
      thing: "valve",
    });
    expect(reg.can(alice, "valve", "property.write")).toBe(false);
    expect(reg.can({ ...alice, groups: ["ldap-ops"] }, "valve", "property.write")).toBe(true);
    // A level that does not fit the permission is refused.
    expect(() =>
      reg.access.addEntry("allow", { kind: "user", name: "alice" }, "tunnel.open", { level: "thing", thing: "pump" }),
    ).toThrow(/level/);
  });

  it("access - a change made by another process is seen by the decision cache", async () => {
    const alice = { kind: "operator", id: "alice" } as const;
    expect(reg.can(alice, "pump", "property.read")).toBe(false);
    const other = new SqliteRegistry(join(dir, "registry.db"));
    other.access.addEntry("allow", { kind: "user", name: "alice" }, "property.read", { level: "thing", thing: "pump" });
    other.close();
    const deadline = Date.now() + 5_000;
    while (!reg.can(alice, "pump", "property.read") && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    expect(reg.can(alice, "pump", "property.read")).toBe(true);
  });

  it("access - organizations: the first one turns visibility on; units see what is granted below them", () => {
    const alice = { kind: "operator", id: "alice" } as const;
    reg.access.addEntry("allow", { kind: "group", name: "Operators" }, "property.read", {
      level: "collection",
      collection: "things",
    });
    expect(reg.access.visible(alice, "thing", "pump")).toBe(true);
    reg.access.createOrganization("acme");
    reg.access.createUnit("acme", "plant");
    reg.access.createUnit("acme", "line", "plant");
    expect(reg.access.visible(alice, "thing", "pump")).toBe(false);
    expect(reg.can(alice, "pump", "property.read")).toBe(false);
    expect(reg.access.visible({ kind: "operator", id: "root" }, "thing", "pump")).toBe(true);
    expect(reg.can({ kind: "device", id: "dev-1" }, "pump", "property.write")).toBe(true);
    reg.access.grantVisibility("acme", "line", "device", "dev-1");
    reg.access.addUnitMember("acme", "plant", { kind: "user", name: "alice" });
    expect(reg.access.visible(alice, "thing", "pump")).toBe(true);
    expect(reg.access.visible(alice, "thing", "valve")).toBe(false);
    expect(() => reg.access.deleteUnit("acme", "plant")).toThrow(/below/);
    reg.access.deleteOrganization("acme");
    expect(reg.access.visible(alice, "thing", "valve")).toBe(true);
  });
});
