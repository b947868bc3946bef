import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SqliteRegistry } from "../src/registry/sqlite.js";

const MAIN = resolve(dirname(fileURLToPath(import.meta.url)), "../dist/cli/main.js");

function run(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [MAIN, ...args], {
    encoding: "utf8",
    env: { ...process.env, OUTPOST_DATA: "" },
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `access explain --json` without the local ids of the entries. */
function explain(data: string, ...args: string[]): unknown {
  const r = run("access", "explain", ...args, "--json", "--data", data);
  expect(r.code, r.stderr).toBe(0);
  const d = JSON.parse(r.stdout) as { entries: { id: number }[] };
  return { ...d, entries: d.entries.map(({ id: _id, ...e }) => e) };
}

// Each command is a process of its own: on a busy machine one takes seconds.
describe("cli - export and import", { timeout: 180_000 }, () => {
  let root: string;
  let sandbox: string;
  let production: string;
  let token: string;
  beforeAll(() => {
    expect(existsSync(MAIN), "build packages/server first").toBe(true);
    root = mkdtempSync(join(tmpdir(), "outpost-model-cli-"));
    sandbox = join(root, "sandbox");
    production = join(root, "production");
    expect(run("init", "--data", sandbox).code).toBe(0);
    expect(run("init", "--data", production).code).toBe(0);
    const reg = new SqliteRegistry(join(sandbox, "registry.db"));
    reg.createDevice("gw-1");
    reg.createDevice("gw-2");
    reg.assignThing("pump", "gw-1");
    reg.assignThing("fan", "gw-2");
    token = reg.createOperator("olga", false).token;
    const a = reg.access;
    a.createGroup("night-shift");
    a.addMember("night-shift", { kind: "user", name: "olga" });
    a.addEntry("allow", { kind: "group", name: "night-shift" }, "property.read", {
      level: "collection",
      collection: "things",
    });
    a.addEntry("deny", { kind: "user", name: "olga" }, "property.read", {
      level: "member",
      thing: "pump",
      member: "secret",
    });
    a.createOrganization("acme");
    a.addUnitMember("acme", "acme", { kind: "user", name: "olga" });
    a.grantVisibility("acme", "acme", "thing", "pump");
    reg.close();
  }, 180_000);
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it("cli - export then import into a fresh data directory: the same model, the same explain answers, audited", () => {
    const file = join(root, "model.json");
    const exported = run("export", "--data", sandbox, "--out", file, "--json");
    expect(exported.code, exported.stderr).toBe(0);
    expect(JSON.parse(exported.stdout)).toMatchObject({ format: "outpost-model/1", counts: { things: 2, entries: 2 } });
    const text = readFileSync(file, "utf8");
    expect(text).not.toContain(token.slice(-20));

    const dry = run("import", "--data", production, "--in", file, "--dry-run", "--json");
    expect(dry.code, dry.stderr).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({ applied: false, dryRun: true, conflicts: [] });
    expect(run("export", "--data", production).stdout).not.toBe(text);

    const imported = run("import", "--data", production, "--in", file);
    expect(imported.code, imported.stderr).toBe(0);
    expect(imported.stdout).toMatch(/^imported .*\n {2}devices: 2 added, 0 skipped, 0 replaced/);
    expect(run("export", "--data", production).stdout).toBe(text);

    for (const c of [
      ["user:olga", "pump", "property.read"],
      ["user:olga", "pump", "property.read", "--member", "secret"],
      ["user:olga", "fan", "property.read"],
      ["device:gw-1", "pump", "property.write", "--member", "speed"],
    ]) {
      expect(explain(production, ...c)).toEqual(explain(sandbox, ...c));
    }
    const audit = readFileSync(join(production, "audit.log"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { type: string; details?: Record<string, unknown> })
      .filter((r) => r.details?.action === "model.import");
    expect(audit).toHaveLength(1);
    expect(audit[0]?.details).toMatchObject({ via: "cli", counts: { things: { added: 2 }, entries: { added: 2 } } });
    expect(typeof audit[0]?.details?.user).toBe("string");
  });

  it("cli - import refuses a malformed file (JSON path) and a conflicting one (OUTPOST_CONFLICT), changing nothing", () => {
    const before = run("export", "--data", production).stdout;
    const bad = join(root, "bad.json");
    writeFileSync(
      bad,
      JSON.stringify({
        format: "outpost-model/1",
        entries: [{ effect: "maybe", subject: "user:olga", permission: "property.read", level: "things" }],
      }),
    );
    const refused = run("import", "--data", production, "--in", bad);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("$.entries[0].effect: must be allow or deny");
    expect(refused.stderr).toContain("OUTPOST_BAD_REQUEST");

    const conflicting = JSON.parse(before) as { things: { name: string; description: string }[] };
    conflicting.things[0]!.description = "changed";
    const other = join(root, "other.json");
    writeFileSync(other, JSON.stringify(conflicting));
    const conflict = run("import", "--data", production, "--in", other, "--json");
    expect(conflict.code).toBe(1);
    expect(conflict.stderr).toContain("OUTPOST_CONFLICT");
    expect(JSON.parse(conflict.stdout)).toMatchObject({
      applied: false,
      conflicts: [{ path: "$.things[0]", kind: "different" }],
    });
    expect(run("export", "--data", production).stdout).toBe(before);
    const help = run("import", "--help");
    expect(help.stdout).toContain("Examples:");
  });
});
