import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isOutpostError } from "@outpost/protocol";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SqliteRegistry } from "../src/registry/sqlite.js";
import { SCHEMA_VERSION } from "../src/registry/schema.js";
import { SecretValueError } from "../src/secrets/secret-box.js";
import { parseTemplateDefinition } from "../src/templates/model.js";

const PASSWORD = "hunter2-Plaintext-7f3a";

const PUMP = parseTemplateDefinition({
  description: "a pump",
  properties: [
    { name: "speed", type: "number" },
    { name: "password", type: "string", secret: true },
    { name: "serial", type: "string", writable: false },
  ],
  services: [{ name: "reset" }],
  events: [{ name: "alarm" }],
});

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error("expected an error");
}

describe("templates registry", () => {
  let dir: string;
  let reg: SqliteRegistry;
  const key = randomBytes(32);
  const file = () => join(dir, "registry.db");
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "outpost-templates-"));
    reg = new SqliteRegistry(file(), { dataKey: key });
    reg.createDevice("dev-1");
    reg.createOperator("root", true);
    reg.createOperator("alice", false);
  });
  afterEach(() => {
    reg.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("templates - a version 8 registry opens and migrates: its Things keep working and gain no template", () => {
    reg.assignThing("pump", "dev-1");
    reg.setProperty({ thing: "pump", name: "speed", value: 3, timestampMs: 1, quality: "good", receivedAt: 1 });
    reg.close();
    const db = new Database(file());
    db.exec(`DROP TABLE thing_templates; DROP TABLE registry_meta; DROP INDEX things_template;
      ALTER TABLE things DROP COLUMN template; DELETE FROM schema_version; INSERT INTO schema_version VALUES (8);`);
    db.close();
    reg = new SqliteRegistry(file(), { dataKey: key });
    expect(reg.getThing("pump")).toEqual({ name: "pump", deviceId: "dev-1", description: "" });
    expect(reg.getProperties("pump").map((p) => p.value)).toEqual([3]);
    expect(reg.templates.list()).toEqual([]);
    const check = new Database(file(), { readonly: true });
    expect((check.prepare("SELECT MAX(version) AS v FROM schema_version").get() as { v: number }).v).toBe(
      SCHEMA_VERSION,
    );
    check.close();
    reg.templates.create("pumps", PUMP);
    expect(reg.templates.createThing({ name: "p2", deviceId: "dev-1", template: "pumps" }).template).toBe("pumps");
  });

  it("templates - create, read, update and delete; a Thing made from one keeps its name; one in use cannot go", () => {
    const t = reg.templates.create("pumps", PUMP);
    expect(t).toMatchObject({ name: "pumps", description: "a pump", services: [{ name: "reset", description: "" }] });
    expect(t.properties[0]).toEqual({ name: "speed", type: "number", writable: true, secret: false, description: "" });
    expect(
      isOutpostError(
        thrown(() => reg.templates.create("pumps", PUMP)),
        "OUTPOST_CONFLICT",
      ),
    ).toBe(true);
    const thing = reg.templates.createThing({
      name: "pump",
      deviceId: "dev-1",
      template: "pumps",
      properties: { speed: 2 },
    });
    expect(thing).toEqual({ name: "pump", deviceId: "dev-1", description: "", template: "pumps" });
    expect(reg.thingTemplate("pump")?.name).toBe("pumps");
    expect(reg.getProperties("pump").map((p) => [p.name, p.value])).toEqual([["speed", 2]]);
    expect(
      isOutpostError(
        thrown(() => reg.templates.delete("pumps")),
        "OUTPOST_CONFLICT",
      ),
    ).toBe(true);
    const { before, after } = reg.templates.update("pumps", { ...PUMP, description: "pumps v2" });
    expect([before.description, after.description]).toEqual(["a pump", "pumps v2"]);
    reg.templates.deleteThing("pump");
    expect(reg.getThing("pump")).toBeUndefined();
    expect(reg.getProperties("pump")).toEqual([]);
    expect(reg.templates.delete("pumps").name).toBe("pumps");
    expect(reg.templates.get("pumps")).toBeUndefined();
  });

  it("templates - bad definitions and values are refused with a typed error naming the field", () => {
    for (const bad of [
      { properties: [{ name: "x", type: "float" }] },
      {
        properties: [
          { name: "x", type: "number" },
          { name: "x", type: "string" },
        ],
      },
      { properties: [{ name: "bad name", type: "number" }] },
      { properties: [{ name: "x", type: "number", secret: "yes" }] },
      { colour: "red" },
    ]) {
      expect(
        isOutpostError(
          thrown(() => parseTemplateDefinition(bad)),
          "OUTPOST_BAD_REQUEST",
        ),
      ).toBe(true);
    }
    reg.templates.create("pumps", PUMP);
    const wrongType = thrown(() =>
      reg.templates.createThing({ name: "p", deviceId: "dev-1", template: "pumps", properties: { speed: "fast" } }),
    );
    expect((wrongType as Error).message).toMatch(/speed must be of type number/);
    const undeclared = thrown(() =>
      reg.templates.createThing({ name: "p", deviceId: "dev-1", template: "pumps", properties: { colour: 1 } }),
    );
    expect((undeclared as Error).message).toMatch(/declares no property colour/);
    expect(reg.getThing("p")).toBeUndefined();
    expect(
      isOutpostError(
        thrown(() => reg.templates.createThing({ name: "p", deviceId: "dev-1", template: "nope" })),
        "OUTPOST_NOT_FOUND",
      ),
    ).toBe(true);
  });

  it("templates - entries at the template and instance levels are stored, decide, and go with the template", () => {
    reg.templates.create("pumps", PUMP);
    reg.templates.createThing({ name: "pump", deviceId: "dev-1", template: "pumps" });
    reg.assignThing("valve", "dev-1");
    const alice = { kind: "operator", id: "alice" } as const;
    const user = { kind: "user", name: "alice" } as const;
    reg.access.addEntry("allow", user, "property.read", { level: "instances", template: "pumps" });
    reg.access.addEntry("allow", user, "update", { level: "template", template: "pumps" });
    expect(reg.can(alice, "pump", "property.read")).toBe(true);
    expect(reg.can(alice, "valve", "property.read")).toBe(false);
    expect(reg.access.allows({ principal: alice, permission: "update", target: "pumps" }, "template")).toBe(true);
    reg.access.addEntry("deny", { kind: "group", name: "Operators" }, "property.read", {
      level: "instances",
      template: "pumps",
    });
    expect(reg.can(alice, "pump", "property.read")).toBe(false);
    // Levels that do not fit the permission, and templates that do not exist, are refused.
    expect(
      isOutpostError(
        thrown(() => reg.access.addEntry("allow", user, "property.read", { level: "template", template: "pumps" })),
        "OUTPOST_BAD_REQUEST",
      ),
    ).toBe(true);
    expect(
      isOutpostError(
        thrown(() => reg.access.addEntry("allow", user, "read", { level: "instances", template: "nope" })),
        "OUTPOST_NOT_FOUND",
      ),
    ).toBe(true);
    reg.templates.deleteThing("pump");
    reg.templates.delete("pumps");
    expect(reg.access.listEntries(user)).toEqual([]);
  });

  describe("templates - secret properties", () => {
    beforeEach(() => {
      reg.templates.create("pumps", PUMP);
      reg.templates.createThing({
        name: "pump",
        deviceId: "dev-1",
        template: "pumps",
        properties: { password: PASSWORD, speed: 1 },
      });
    });

    const stored = (table: string, name: string) => {
      const db = new Database(file(), { readonly: true });
      try {
        return (
          db.prepare(`SELECT value_json FROM ${table} WHERE thing = 'pump' AND name = ?`).get(name) as {
            value_json: string;
          }
        ).value_json;
      } finally {
        db.close();
      }
    };

    it("templates - a secret value is stored encrypted (nowhere in the database files), read back in plaintext", () => {
      reg.setProperties([
        { thing: "pump", name: "password", value: PASSWORD, timestampMs: 2, quality: "good", receivedAt: 2 },
        { thing: "pump", name: "speed", value: 4, timestampMs: 2, quality: "good", receivedAt: 2 },
      ]);
      reg.setDesired({ thing: "pump", name: "password", value: PASSWORD, setBy: "root", setAt: 1, expiresAt: 9e12 });
      expect(stored("properties", "password")).toMatch(/^outpost-enc:v1:/);
      expect(stored("desired_properties", "password")).toMatch(/^outpost-enc:v1:/);
      expect(stored("properties", "speed")).toBe("4");
      for (const f of readdirSync(dir)) {
        expect(readFileSync(join(dir, f)).includes(PASSWORD), `${f} holds the plaintext`).toBe(false);
      }
      expect(reg.getProperties("pump").find((p) => p.name === "password")?.value).toBe(PASSWORD);
      expect(reg.listDesired("pump")[0]?.value).toBe(PASSWORD);
    });

    it("templates - a changed ciphertext, one moved to another property, or another key gives a typed error naming the property", () => {
      reg.setProperty({ thing: "pump", name: "serial", value: "s-1", timestampMs: 2, quality: "good", receivedAt: 2 });
      const sealed = stored("properties", "password");
      const db = new Database(file());
      const flipped = sealed.slice(0, -2) + (sealed.at(-2) === "A" ? "B" : "A") + sealed.at(-1);
      db.prepare("UPDATE properties SET value_json = ? WHERE thing = 'pump' AND name = 'password'").run(flipped);
      const e = thrown(() => reg.getProperties("pump"));
      expect(e).toBeInstanceOf(SecretValueError);
      expect((e as SecretValueError).code).toBe("OUTPOST_INTEGRITY");
      expect((e as SecretValueError).field).toBe("property:pump/password");
      expect((e as Error).message).toContain("property:pump/password");
      // A plaintext value put in place of the ciphertext is refused too, never returned.
      db.prepare("UPDATE properties SET value_json = '\"swapped\"' WHERE thing = 'pump' AND name = 'password'").run();
      expect((thrown(() => reg.getProperties("pump")) as SecretValueError).field).toBe("property:pump/password");
      db.prepare("UPDATE properties SET value_json = ? WHERE thing = 'pump' AND name = 'password'").run(sealed);
      db.close();
      expect(reg.getProperties("pump").find((p) => p.name === "password")?.value).toBe(PASSWORD);
      reg.close();
      reg = new SqliteRegistry(file(), { dataKey: randomBytes(32) });
      const wrongKey = thrown(() => reg.getProperties("pump"));
      expect(isOutpostError(wrongKey, "OUTPOST_INVALID_CONFIG")).toBe(true);
      expect((wrongKey as Error).message).toMatch(/not the key/);
    });

    it("templates - making a property secret encrypts its kept values; making it plain decrypts them", () => {
      reg.templates.update("pumps", {
        ...PUMP,
        properties: PUMP.properties.map((p) => ({ ...p, secret: p.name === "speed" })),
      });
      expect(stored("properties", "speed")).toMatch(/^outpost-enc:v1:/);
      expect(stored("properties", "password")).toBe(JSON.stringify(PASSWORD));
      expect(reg.getProperties("pump").map((p) => p.value)).toEqual([PASSWORD, 1]);
    });

    it("templates - rotating the data key re-encrypts every secret value at once", () => {
      const next = randomBytes(32);
      const before = stored("properties", "password");
      expect(reg.secrets.rotate(next)).toBe(1);
      expect(stored("properties", "password")).not.toBe(before);
      reg.close();
      reg = new SqliteRegistry(file(), { dataKey: next });
      expect(reg.getProperties("pump").find((p) => p.name === "password")?.value).toBe(PASSWORD);
    });
  });
});
