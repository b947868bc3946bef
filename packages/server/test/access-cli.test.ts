import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SqliteRegistry } from "../src/registry/sqlite.js";
import { parseTemplateDefinition } from "../src/templates/model.js";

const MAIN = resolve(dirname(fileURLToPath(import.meta.url)), "../dist/cli/main.js");

function run(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [MAIN, ...args], {
    encoding: "utf8",
    env: { ...process.env, OUTPOST_DATA: "" },
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

// Each command is a process of its own: on a busy machine one takes seconds.
describe("cli - access", () => {
  let root: string;
  let data: string;
  beforeAll(() => {
    expect(existsSync(MAIN), "build packages/server first").toBe(true);
    root = mkdtempSync(join(tmpdir(), "outpost-access-cli-"));
    data = join(root, "data");
    expect(run("init", "--data", data).code).toBe(0);
    const reg = new SqliteRegistry(join(data, "registry.db"));
    reg.createDevice("gw-1");
    reg.assignThing("pump", "gw-1");
    reg.createOperator("olga", false);
    reg.close();
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it("cli - access: groups, entries and explain with --json; every change audited with before and after", () => {
    expect(run("access", "group", "add", "night-shift", "--data", data).code).toBe(0);
    const added = run("access", "group", "add-member", "night-shift", "user:olga", "--json", "--data", data);
    expect(added.code, added.stderr).toBe(0);
    const change = JSON.parse(added.stdout) as { before: { members: unknown[] }; after: { members: unknown[] } };
    expect(change.before.members).toEqual([]);
    expect(change.after.members).toEqual([{ kind: "user", name: "olga" }]);
    expect(run("access", "allow", "group:night-shift", "property.read", "things", "--data", data).code).toBe(0);
    expect(run("access", "deny", "user:olga", "property.read", "thing:pump#secret", "--data", data).code).toBe(0);
    const explain = run(
      "access",
      "explain",
      "user:olga",
      "pump",
      "property.read",
      "--member",
      "secret",
      "--json",
      "--data",
      data,
    );
    const d = JSON.parse(explain.stdout) as { allowed: boolean; reason: string; entries: { effect: string }[] };
    expect(d).toMatchObject({ allowed: false, reason: "deny" });
    expect(d.entries.map((e) => e.effect)).toEqual(["deny"]);
    const text = run("access", "explain", "user:olga", "pump", "property.read", "--data", data);
    expect(text.stdout).toMatch(/^ALLOWED \(allow\)/);
    expect(text.stdout).toContain("group:night-shift");
    // A template: the decision at its instance level and the entry that produced it.
    const reg = new SqliteRegistry(join(data, "registry.db"));
    reg.templates.create("pumps", parseTemplateDefinition({}));
    reg.close();
    expect(run("access", "deny", "group:night-shift", "property.write", "instances:pumps", "--data", data).code).toBe(
      0,
    );
    const tpl = run("access", "explain", "user:olga", "instances:pumps", "property.write", "--data", data);
    expect(tpl.code, tpl.stderr).toBe(0);
    const lines = tpl.stdout.trim().split("\n");
    expect(lines[0]).toBe("DENIED (deny)");
    expect(lines).toContain("level: instances:pumps (what every Thing made from the template inherits)");
    expect(lines.at(-1)).toMatch(/^#\d+\tdeny\tgroup:night-shift\tproperty\.write\tinstances:pumps$/);
    const member = run(
      "access",
      "explain",
      "user:olga",
      "template:pumps",
      "property.write",
      "--member",
      "x",
      "--data",
      data,
    );
    expect(member.code).toBe(1);
    expect(member.stderr).toContain("OUTPOST_BAD_REQUEST");
    const audit = readFileSync(join(data, "audit.log"), "utf8");
    expect(audit).toContain('"group.member.add"');
    expect(audit).toContain('"permission.deny"');
  }, 180_000);

  it("cli - access: a device is refused from Administrators and from design-time permissions", () => {
    const admin = run("access", "group", "add-member", "Administrators", "device:gw-1", "--data", data);
    expect(admin.code).toBe(1);
    expect(admin.stderr).toMatch(/^error: device gw-1 cannot be a member of Administrators.*OUTPOST_FORBIDDEN/);
    const design = run("access", "allow", "device:gw-1", "update", "things", "--data", data);
    expect(design.code).toBe(1);
    expect(design.stderr).toContain("design-time");
  }, 180_000);
});
