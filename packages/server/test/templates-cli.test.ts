import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SqliteRegistry } from "../src/registry/sqlite.js";
import { dataKeyLoader } from "../src/secrets/rotate.js";

const MAIN = resolve(dirname(fileURLToPath(import.meta.url)), "../dist/cli/main.js");
const SECRET = "cli-Secret-Value-4d2b";

function run(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [MAIN, ...args], {
    encoding: "utf8",
    env: { ...process.env, OUTPOST_DATA: "", OUTPOST_SERVER_DATA_KEY: "" },
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Every file below `dir`, recursively. */
function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)],
  );
}

// Each command is a process of its own: on a busy machine one takes seconds.
describe("cli - templates", { timeout: 180_000 }, () => {
  let root: string;
  let data: string;
  beforeAll(() => {
    expect(existsSync(MAIN), "build packages/server first").toBe(true);
    root = mkdtempSync(join(tmpdir(), "outpost-templates-cli-"));
    data = join(root, "data");
    expect(run("init", "--data", data).code).toBe(0);
    const reg = new SqliteRegistry(join(data, "registry.db"));
    reg.createDevice("gw-1");
    reg.close();
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it("cli - templates: init makes a 0600 data key; templates and Things from them with --json; secrets never in plaintext on disk or in the audit log", () => {
    expect(statSync(join(data, "data.key")).mode & 0o777).toBe(0o600);
    const added = run(
      "template",
      "add",
      "pumps",
      "--property",
      "speed:number",
      "--property",
      "password:string:secret",
      "--property",
      "serial:string:readonly",
      "--service",
      "reset",
      "--event",
      "alarm",
      "--json",
      "--data",
      data,
    );
    expect(added.code, added.stderr).toBe(0);
    expect(JSON.parse(added.stdout)).toMatchObject({
      action: "template.create",
      before: null,
      after: { name: "pumps" },
    });
    const def = join(root, "valves.json");
    writeFileSync(def, JSON.stringify({ description: "valves", properties: [{ name: "open", type: "boolean" }] }));
    expect(run("template", "add", "valves", "--file", def, "--data", data).code).toBe(0);
    const list = JSON.parse(run("template", "list", "--json", "--data", data).stdout) as { name: string }[];
    expect(list.map((t) => t.name)).toEqual(["pumps", "valves"]);
    const made = run(
      "thing",
      "create",
      "pump",
      "gw-1",
      "--template",
      "pumps",
      "--set",
      "speed=3",
      "--set",
      `password=${SECRET}`,
      "--json",
      "--data",
      data,
    );
    expect(made.code, made.stderr).toBe(0);
    expect(JSON.parse(made.stdout).after).toMatchObject({
      template: "pumps",
      properties: { speed: 3, password: "<secret>" },
    });
    const bad = run("thing", "create", "p2", "gw-1", "--template", "pumps", "--set", "speed=fast", "--data", data);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/speed must be of type number \(OUTPOST_BAD_REQUEST\)/);
    const show = JSON.parse(run("template", "show", "pumps", "--json", "--data", data).stdout) as { things: string[] };
    expect(show.things).toEqual(["pump"]);
    expect(run("template", "remove", "pumps", "--data", data).stderr).toMatch(/in use/);
    expect(run("access", "allow", "group:Operators", "property.read", "instances:pumps", "--data", data).code).toBe(0);

    for (const f of files(data)) {
      expect(readFileSync(f).includes(SECRET), `${f} holds the secret in plaintext`).toBe(false);
    }
    const audit = readFileSync(join(data, "audit.log"), "utf8");
    expect(audit).toContain("<secret>");
    const reg = new SqliteRegistry(join(data, "registry.db"), { dataKey: dataKeyLoader(data) });
    expect(reg.getProperties("pump").find((p) => p.name === "password")?.value).toBe(SECRET);
    reg.close();
  });

  it("cli - secrets: rotate-key re-encrypts every secret value under a new key; the old key no longer opens them", () => {
    const before = JSON.parse(run("secrets", "status", "--json", "--data", data).stdout) as {
      keyId: string;
      registryKeyId: string;
    };
    expect(before.keyId).toBe(before.registryKeyId);
    const oldKey = readFileSync(join(data, "data.key"));
    const rotated = run("secrets", "rotate-key", "--json", "--data", data);
    expect(rotated.code, rotated.stderr).toBe(0);
    const r = JSON.parse(rotated.stdout) as { values: number; previousKeyId: string; keyId: string };
    expect(r).toMatchObject({ values: 1, previousKeyId: before.keyId });
    expect(r.keyId).not.toBe(before.keyId);
    expect(statSync(join(data, "data.key")).mode & 0o777).toBe(0o600);
    expect(existsSync(join(data, "data.key.next"))).toBe(false);
    const after = JSON.parse(run("secrets", "status", "--json", "--data", data).stdout) as {
      keyId: string;
      registryKeyId: string;
    };
    expect(after).toMatchObject({ keyId: r.keyId, registryKeyId: r.keyId });
    const reg = new SqliteRegistry(join(data, "registry.db"), { dataKey: dataKeyLoader(data) });
    expect(reg.getProperties("pump").find((p) => p.name === "password")?.value).toBe(SECRET);
    reg.close();
    const stale = new SqliteRegistry(join(data, "registry.db"), {
      dataKey: Buffer.from(oldKey.toString("utf8").trim(), "base64"),
    });
    expect(() => stale.getProperties("pump")).toThrow(/not the key/);
    stale.close();
    expect(readFileSync(join(data, "audit.log"), "utf8")).toContain("secrets.rotate-key");
  });
});
