import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AccessPermission, AccessRequest, Decision } from "../src/access/model.js";
import { hashPassword } from "../src/auth/passwords.js";
import { exportModel as exportFrom, omittedFromModel } from "../src/model/export.js";
import { formatModel, type ModelDocument, ModelFormatError, parseModel } from "../src/model/format.js";
import { type ImportOptions, importModel as importInto } from "../src/model/import.js";
import { asyncRegistryOf } from "../src/registry/async-sqlite.js";
import { SqliteRegistry } from "../src/registry/sqlite.js";
import { parseTemplateDefinition } from "../src/templates/model.js";
import { deferredRegistry } from "./deferred-registry.js";

/** The model of `reg`, read through its asynchronous view. */
const exportModel = (reg: SqliteRegistry) => exportFrom(asyncRegistryOf(reg));
/** Imports `doc` into `reg` through its asynchronous view (one transaction). */
const importModel = (reg: SqliteRegistry, doc: ModelDocument, options?: ImportOptions) =>
  importInto(asyncRegistryOf(reg), doc, options);

let root: string;
let sandbox: SqliteRegistry;
const secrets: string[] = [];
let n = 0;

/** A new registry in a file of its own (so its secret columns can be read back). */
function fresh(): SqliteRegistry {
  return new SqliteRegistry(join(root, `r${++n}.db`));
}

/** Every level, both effects, users and groups, restrictions, a disabled device, organizations and visibility. */
async function buildSandbox(reg: SqliteRegistry): Promise<void> {
  for (const id of ["gw-1", "gw-2", "gw-3"]) reg.createDevice(id, `gateway ${id}`);
  reg.setDeviceDisabled("gw-3", true);
  reg.assignThing("pump", "gw-1", "the pump");
  reg.assignThing("fan", "gw-2");
  reg.assignThing("valve", "gw-3");
  reg.restrict("gw-1", "pump", "property.write");
  secrets.push(reg.createKey("gw-1").key, reg.createKey("gw-2").key);
  secrets.push(reg.createOperator("admin", true).token, reg.createOperator("olga", false).token);
  secrets.push(reg.createOperator("ivan", false).token);
  reg.credentials.setPassword("olga", await hashPassword("olga-password-123", { log2N: 10, r: 8, p: 1 }));
  secrets.push(
    reg.credentials.issue({
      operator: "olga",
      kind: "token",
      authenticator: "local",
      groups: [],
      scope: null,
      source: "test",
      ttlMs: 60_000,
    }).token,
  );
  const a = reg.access;
  a.createGroup("night-shift", "operators at night");
  a.addMember("night-shift", { kind: "user", name: "olga" });
  a.createGroup("sensors");
  a.addMember("sensors", { kind: "device", name: "gw-2" });
  const things = { level: "collection", collection: "things" } as const;
  a.addEntry("allow", { kind: "group", name: "night-shift" }, "property.read", things);
  a.addEntry("allow", { kind: "group", name: "night-shift" }, "event.subscribe", things);
  a.addEntry("deny", { kind: "user", name: "olga" }, "property.read", {
    level: "member",
    thing: "pump",
    member: "secret",
  });
  a.addEntry("allow", { kind: "user", name: "olga" }, "property.write", {
    level: "member",
    thing: "pump",
    member: "speed",
  });
  a.addEntry("allow", { kind: "user", name: "olga" }, "service.execute", { level: "thing", thing: "pump" });
  a.addEntry("deny", { kind: "group", name: "night-shift" }, "service.execute", { level: "thing", thing: "fan" });
  a.addEntry("allow", { kind: "user", name: "ivan" }, "property.read", { level: "thing", thing: "fan" });
  a.addEntry("allow", { kind: "group", name: "Operators" }, "tunnel.open", {
    level: "collection",
    collection: "devices",
  });
  a.addEntry("deny", { kind: "user", name: "ivan" }, "tunnel.open", { level: "device", device: "gw-1" });
  a.addEntry("allow", { kind: "user", name: "olga" }, "read", things);
  a.addEntry("deny", { kind: "device", name: "gw-1" }, "event.emit", {
    level: "member",
    thing: "pump",
    member: "alarm",
  });
  a.addEntry("allow", { kind: "group", name: "sensors" }, "property.read", { level: "thing", thing: "pump" });
  a.createOrganization("acme", "the customer");
  a.createUnit("acme", "plant");
  a.createUnit("acme", "line", "plant");
  a.createUnit("acme", "shift", "line");
  a.addUnitMember("acme", "shift", { kind: "user", name: "olga" });
  a.addUnitMember("acme", "plant", { kind: "group", name: "sensors" });
  a.addUnitMember("acme", "acme", { kind: "user", name: "ivan" });
  a.grantVisibility("acme", "shift", "thing", "pump");
  a.grantVisibility("acme", "line", "device", "gw-1");
  a.grantVisibility("acme", "plant", "thing", "fan");
}

const U = (id: string) => ({ kind: "operator", id }) as const;
const D = (id: string) => ({ kind: "device", id }) as const;

// [principal, target, permission, member?]: the table of decisions that must survive the promotion.
const CASES: [AccessRequest["principal"], string, AccessPermission, string?][] = [
  [U("olga"), "pump", "property.read"],
  [U("olga"), "pump", "property.read", "secret"],
  [U("olga"), "pump", "property.read", "speed"],
  [U("olga"), "pump", "property.write", "speed"],
  [U("olga"), "pump", "property.write", "level"],
  [U("olga"), "pump", "service.execute", "reset"],
  [U("olga"), "fan", "service.execute"],
  [U("olga"), "fan", "property.read"],
  [U("olga"), "valve", "property.read"],
  [U("olga"), "pump", "read"],
  [U("olga"), "gw-1", "tunnel.open"],
  [U("olga"), "gw-2", "tunnel.open"],
  [U("ivan"), "fan", "property.read"],
  [U("ivan"), "pump", "property.read"],
  [U("ivan"), "gw-1", "tunnel.open"],
  [U("admin"), "valve", "property.write"],
  [U("ghost"), "pump", "property.read"],
  [D("gw-1"), "pump", "property.read"],
  [D("gw-1"), "pump", "property.write", "speed"],
  [D("gw-1"), "pump", "event.emit", "alarm"],
  [D("gw-1"), "pump", "event.emit", "tick"],
  [D("gw-1"), "fan", "property.read"],
  [D("gw-2"), "pump", "property.read"],
  [D("gw-2"), "fan", "create"],
  [D("gw-3"), "valve", "property.read"],
];

/** A decision without the local ids of its entries. */
function decisions(reg: SqliteRegistry): unknown[] {
  return CASES.map(([principal, target, permission, member]) => {
    const d: Decision = reg.access.decide({ principal, target, permission, ...(member ? { member } : {}) });
    return { ...d, entries: d.entries.map(({ id: _id, ...e }) => e) };
  });
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "outpost-model-"));
  sandbox = fresh();
  await buildSandbox(sandbox);
});

afterAll(() => {
  sandbox?.close();
  rmSync(root, { recursive: true, force: true });
});

describe("model - export and import", () => {
  it("model - round trip: export, import into a fresh registry, export again gives the same bytes and the same decisions", async () => {
    const text = formatModel(await exportModel(sandbox));
    const target = fresh();
    try {
      const report = await importModel(target, parseModel(text));
      expect(report.conflicts).toEqual([]);
      expect(report.applied).toBe(true);
      expect(report.counts.entries.added).toBe(12);
      expect(formatModel(await exportModel(target))).toBe(text);
      const before = decisions(sandbox);
      expect(decisions(target)).toEqual(before);
      // The table covers both answers and the reasons that matter.
      const reasons = new Set(before.map((d) => (d as Decision).reason));
      for (const r of ["allow", "deny", "default", "invisible", "disabled", "device-excluded", "unknown-principal"]) {
        expect(reasons, r).toContain(r);
      }
      // Importing the same file again changes nothing: every item is skipped.
      const again = await importModel(target, parseModel(text));
      expect(again.applied).toBe(true);
      expect(Object.values(again.counts).every((c) => c.added === 0 && c.replaced === 0)).toBe(true);
      expect(formatModel(await exportModel(target))).toBe(text);
    } finally {
      target.close();
    }
  });

  it("model - the export holds no secret: no key, token, password hash or their hashes", async () => {
    const text = formatModel(await exportModel(sandbox));
    const db = new Database(join(root, "r1.db"), { readonly: true });
    const hashes = db
      .prepare(
        `SELECT secret_hash FROM app_keys UNION ALL SELECT secret_hash FROM operator_tokens
         UNION ALL SELECT hash FROM operator_passwords UNION ALL SELECT secret_hash FROM login_tokens`,
      )
      .pluck()
      .all() as string[];
    db.close();
    expect(hashes.length).toBe(7);
    expect(secrets.length).toBe(6);
    for (const s of [...secrets, ...hashes]) {
      expect(text).not.toContain(s);
      // Nor the secret part of a key or token on its own (the id before it is public).
      expect(text).not.toContain(s.slice(-20));
    }
    expect(text).not.toMatch(/scrypt|secret_hash|"hash"|password|token/i);
  });

  it("model - conflicts change nothing: different content and unknown references are all reported with their paths", async () => {
    const target = fresh();
    try {
      target.createDevice("gw-1", "another description");
      target.createDevice("gw-9");
      target.assignThing("pump", "gw-9");
      const before = formatModel(await exportModel(target));
      const doc = await exportModel(sandbox);
      doc.entries.push({ effect: "allow", subject: "user:ghost", permission: "property.read", level: "things" });
      doc.visibility.push({ organization: "acme", unit: "nowhere", entity: "thing:pump" });
      const report = await importModel(target, doc);
      expect(report.applied).toBe(false);
      expect(report.conflicts.map((c) => [c.path, c.kind])).toEqual([
        ["$.devices[0]", "different"],
        ["$.things[1]", "different"],
        // pump is gw-9's in the target: gw-1's restriction on it cannot apply.
        ["$.restrictions[0].thing", "unknown-reference"],
        [`$.entries[${doc.entries.length - 1}].subject`, "unknown-reference"],
        [`$.visibility[${doc.visibility.length - 1}].unit`, "unknown-reference"],
      ]);
      expect(report.conflicts[0]?.message).toContain("another description");
      expect(formatModel(await exportModel(target))).toBe(before);
      // --replace takes the file's content where only content differs.
      const replaced = await importModel(target, await exportModel(sandbox), { replace: true });
      expect(replaced.conflicts).toEqual([]);
      expect(replaced.counts.things.replaced).toBe(1);
      expect(target.getThing("pump")?.deviceId).toBe("gw-1");
      expect(target.getDevice("gw-1")?.description).toBe("gateway gw-1");
      expect(target.getDevice("gw-9")).toBeDefined();
    } finally {
      target.close();
    }
  });

  it("model - all or nothing: a change the registry refuses late in the import undoes every earlier one", async () => {
    const target = fresh();
    try {
      const before = formatModel(await exportModel(target));
      const doc = await exportModel(sandbox);
      // Passes the file checks; the registry refuses it after devices, users, Things and groups were written.
      doc.entries.push({ effect: "allow", subject: "device:gw-2", permission: "update", level: "things" });
      for (const dryRun of [true, false]) {
        const report = await importModel(target, doc, { dryRun });
        expect(report.applied).toBe(false);
        expect(report.conflicts).toMatchObject([
          { path: `$.entries[${doc.entries.length - 1}]`, kind: "refused", code: "OUTPOST_FORBIDDEN" },
        ]);
        expect(formatModel(await exportModel(target))).toBe(before);
        expect(target.listDevices()).toEqual([]);
      }
      const admins = await exportModel(sandbox);
      admins.groups.find((g) => g.name === "Administrators")!.members.push("device:gw-1");
      const refused = await importModel(target, admins);
      expect(refused.conflicts[0]?.message).toMatch(/cannot be a member of Administrators/);
      expect(formatModel(await exportModel(target))).toBe(before);
      // A dry run of a good file reports what it would do and keeps nothing.
      const dry = await importModel(target, await exportModel(sandbox), { dryRun: true });
      expect(dry).toMatchObject({ applied: false, dryRun: true, conflicts: [] });
      expect(dry.counts.devices.added).toBe(3);
      expect(formatModel(await exportModel(target))).toBe(before);
    } finally {
      target.close();
    }
  });

  it("model - export and import run over a registry that is not the SQLite view: same bytes, and a late refusal keeps nothing", async () => {
    const text = formatModel(await exportModel(sandbox));
    const target = fresh();
    const remote = deferredRegistry(asyncRegistryOf(target));
    try {
      const report = await importInto(remote, parseModel(text));
      expect(report).toMatchObject({ applied: true, conflicts: [] });
      expect(formatModel(await remote.transaction((tx) => exportFrom(tx)))).toBe(text);
      expect(decisions(target)).toEqual(decisions(sandbox));
      const empty = fresh();
      try {
        const before = formatModel(await exportModel(empty));
        const doc = parseModel(text);
        doc.entries.push({ effect: "allow", subject: "device:gw-2", permission: "update", level: "things" });
        const refused = await importInto(deferredRegistry(asyncRegistryOf(empty)), doc);
        expect(refused.applied).toBe(false);
        expect(refused.conflicts).toMatchObject([{ kind: "refused", code: "OUTPOST_FORBIDDEN" }]);
        expect(formatModel(await exportModel(empty))).toBe(before);
      } finally {
        empty.close();
      }
    } finally {
      target.close();
    }
  });

  it("model - templates, Things made from them, template-level entries and template visibility round-trip; a secret flag goes, never a value", async () => {
    const reg = fresh();
    const target = fresh();
    try {
      reg.createDevice("gw-1");
      const def = parseTemplateDefinition({
        properties: [
          { name: "speed", type: "number" },
          { name: "password", type: "string", secret: true },
        ],
        services: [{ name: "reset" }],
      });
      reg.templates.create("pumps", def);
      reg.createOperator("olga", false);
      const olga = { kind: "user", name: "olga" } as const;
      reg.access.addEntry("allow", olga, "property.read", { level: "instances", template: "pumps" });
      reg.access.addEntry("allow", olga, "update", { level: "template", template: "pumps" });
      reg.access.addEntry("allow", olga, "create", { level: "collection", collection: "templates" });
      reg.access.createOrganization("acme");
      reg.access.grantVisibility("acme", "acme", "template", "pumps");
      const doc = await exportModel(reg);
      expect(doc.templates).toEqual([{ name: "pumps", ...def }]);
      expect(doc.entries.map((e) => e.level).sort()).toEqual(["instances:pumps", "template:pumps", "templates"]);
      expect(doc.visibility).toEqual([{ organization: "acme", unit: "acme", entity: "template:pumps" }]);
      expect(omittedFromModel()).toEqual({});
      // A Thing made from the template: its link is in the model, its values are not.
      const keyed = new SqliteRegistry(join(root, `k${++n}.db`), { dataKey: Buffer.alloc(32, 7) });
      keyed.createDevice("gw-1");
      keyed.templates.create("pumps", def);
      keyed.templates.createThing({
        name: "p1",
        deviceId: "gw-1",
        template: "pumps",
        properties: { password: "pw-1" },
      });
      const withThing = await exportModel(keyed);
      keyed.close();
      expect(withThing.things).toEqual([{ name: "p1", device: "gw-1", description: "", template: "pumps" }]);
      expect(formatModel(withThing)).not.toContain("pw-1");

      const text = formatModel({ ...doc, things: withThing.things });
      const report = await importModel(target, parseModel(text));
      expect(report.conflicts).toEqual([]);
      expect(report.counts.templates).toEqual({ added: 1, skipped: 0, replaced: 0 });
      expect(target.getThing("p1")?.template).toBe("pumps");
      expect(target.thingTemplate("p1")?.properties.find((p) => p.name === "password")?.secret).toBe(true);
      expect(formatModel(await exportModel(target))).toBe(text);
      // Again: everything skipped. Another declaration is a conflict unless --replace.
      expect((await importModel(target, parseModel(text))).counts.templates).toEqual({
        added: 0,
        skipped: 1,
        replaced: 0,
      });
      const changed = JSON.parse(text) as ModelDocument;
      changed.templates[0]!.description = "v2";
      expect((await importModel(target, changed)).conflicts.map((c) => c.path)).toEqual(["$.templates[0]"]);
      expect((await importModel(target, changed, { replace: true })).applied).toBe(true);
      expect(target.templates.get("pumps")?.description).toBe("v2");
      // A Thing's template never changes; an unknown template is an unknown reference.
      const moved = JSON.parse(text) as ModelDocument;
      delete moved.things[0]!.template;
      expect((await importModel(target, moved, { replace: true })).conflicts.map((c) => c.path)).toEqual([
        "$.things[0].template",
      ]);
      const dangling = JSON.parse(text) as ModelDocument;
      dangling.templates = [];
      dangling.things[0] = { ...dangling.things[0]!, name: "p2", template: "valves" };
      expect((await importModel(target, dangling)).conflicts.map((c) => [c.path, c.kind])).toEqual([
        ["$.things[0].template", "unknown-reference"],
      ]);
    } finally {
      reg.close();
      target.close();
    }
  });

  it("model - malformed files are refused with the JSON path of each problem", async () => {
    const good = JSON.parse(formatModel(await exportModel(sandbox))) as ModelDocument & Record<string, unknown>;
    const problems = (text: string): string[] => {
      try {
        parseModel(text);
      } catch (err) {
        expect(err).toBeInstanceOf(ModelFormatError);
        expect((err as ModelFormatError).code).toBe("OUTPOST_BAD_REQUEST");
        return (err as ModelFormatError).problems.map((p) => p.path);
      }
      throw new Error("accepted");
    };
    const edit = (f: (d: ModelDocument & Record<string, unknown>) => void) => {
      const d = structuredClone(good);
      f(d);
      return JSON.stringify(d);
    };
    expect(problems("{not json")).toEqual(["$"]);
    expect(problems("[]")).toEqual(["$"]);
    expect(problems(edit((d) => ((d as { format: string }).format = "outpost-model/2")))).toEqual(["$.format"]);
    expect(problems(edit((d) => (d.widgets = [])))).toEqual(["$.widgets"]);
    expect(problems(edit((d) => (d.templates = [{ name: "t", properties: [{ name: "x", type: "float" }] }])))).toEqual([
      "$.templates[0]",
    ]);
    expect(problems(edit((d) => ((d.entries[3] as { effect: string }).effect = "maybe")))).toEqual([
      "$.entries[3].effect",
    ]);
    expect(
      problems(
        edit((d) => {
          (d.entries[0] as { permission: string }).permission = "fly";
          d.entries[1]!.level = "thing:";
          d.things[0]!.device = "bad id";
          d.devices.push({ ...d.devices[0]! });
          d.groups[0]!.members.push("robot:x");
          (d.users[0] as unknown as Record<string, unknown>).passwordHash = "x";
          d.organizations[0]!.units[1]!.parent = null;
        }),
      ),
    ).toEqual([
      "$.devices[3]",
      "$.users[0].passwordHash",
      "$.things[0].device",
      `$.groups[0].members[${good.groups[0]!.members.length}]`,
      "$.organizations[0].units[1].parent",
      "$.entries[0].permission",
      "$.entries[1].level",
    ]);
  });
});
