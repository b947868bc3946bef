import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { validateServerConfig } from "../src/config/server-config.js";
import { SqliteRegistry } from "../src/registry/sqlite.js";

// Runs the built CLI: build with `npx tsc -b packages/server` first.
const MAIN = resolve(dirname(fileURLToPath(import.meta.url)), "../dist/cli/main.js");

function run(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [MAIN, ...args], {
    encoding: "utf8",
    env: { ...process.env, OUTPOST_DATA: "" },
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A refusal a user can act on: exit 1, one "error:" line naming `what`, no stack trace. */
function expectUserError(r: ReturnType<typeof run>, ...what: string[]): void {
  expect(r.code, r.stderr).toBe(1);
  expect(r.stderr).toMatch(/^error: /);
  expect(r.stderr).not.toContain("    at ");
  for (const w of what) expect(r.stderr).toContain(w);
}

describe("cli - first run", () => {
  let root: string;
  let data: string;
  beforeAll(() => {
    expect(existsSync(MAIN), "build packages/server first").toBe(true);
    root = mkdtempSync(join(tmpdir(), "outpost-first-run-"));
    data = join(root, "data");
    expect(run("init", "--data", data).code).toBe(0);
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it("cli - pki commands refuse to overwrite a key or certificate without --force", () => {
    const out = join(root, "ca-out");
    expect(run("pki", "ca", "--out", out).code).toBe(0);
    const key = readFileSync(join(out, "ca.key"), "utf8");
    const again = run("pki", "ca", "--out", out);
    expectUserError(again, join(out, "ca.pem"), "OUTPOST_CONFLICT", "--force");
    expect(readFileSync(join(out, "ca.key"), "utf8")).toBe(key);

    // Only the key exists: still nothing is written (the certificate would not match the old key).
    const dev = join(root, "dev-out");
    mkdirSync(dev);
    writeFileSync(join(dev, "device.key"), "keep me");
    const r = run("pki", "device", "d-1", "--data", data, "--out", dev);
    expectUserError(r, join(dev, "device.key"), "OUTPOST_CONFLICT");
    expect(readdirSync(dev)).toEqual(["device.key"]);
    expect(readFileSync(join(dev, "device.key"), "utf8")).toBe("keep me");

    const forced = run("pki", "ca", "--out", out, "--force");
    expect(forced.code, forced.stderr).toBe(0);
    expect(readFileSync(join(out, "ca.key"), "utf8")).not.toBe(key);
  });

  // Six init processes, each making a CA and an RSA server key: on a loaded machine over 30 s.
  it("cli - init that fails part-way leaves nothing behind, and a retry works", { timeout: 120_000 }, () => {
    const parent = join(root, "atomic");
    mkdirSync(parent);
    const target = join(parent, "srv");
    // The admin name is refused by the registry, after the CA, certificates and registry were made.
    const bad = run("init", "--data", target, "--admin", "bad name!");
    expectUserError(bad, "bad name!", "OUTPOST_BAD_REQUEST");
    expect(readdirSync(parent)).toEqual([]);
    const retry = run("init", "--data", target, "--admin", "ops");
    expect(retry.code, retry.stderr).toBe(0);
    expect(readdirSync(parent)).toEqual(["srv"]);
    expect(readdirSync(target).sort()).toEqual([
      "audit",
      "audit.log",
      "ca",
      "config.json",
      "data.key",
      "registry.db",
      "tls",
    ]);

    // An existing (empty) directory is initialised in place, a failure leaves it empty.
    const existing = join(parent, "existing");
    mkdirSync(existing);
    expectUserError(run("init", "--data", existing, "--admin", "bad name!"), "bad name!");
    expect(readdirSync(existing)).toEqual([]);
    expect(run("init", "--data", existing).code).toBe(0);
    expect(readdirSync(existing)).toContain("ca");
  });

  it("cli - init names the --data path it cannot use instead of printing a stack trace", () => {
    const file = join(root, "a-file");
    writeFileSync(file, "");
    expectUserError(run("init", "--data", file), file, "not a directory");
    expectUserError(run("init", "--data", join(file, "below")), join(file, "below"), "OUTPOST_INVALID_CONFIG");
    const long = join(root, "x".repeat(300));
    expectUserError(run("init", "--data", long), "OUTPOST_INVALID_CONFIG", "ENAMETOOLONG");
  });

  it("cli - init refuses a --host that is not a DNS name or IP address, creating nothing", () => {
    const target = join(root, "bad-host");
    expectUserError(run("init", "--data", target, "--host", "not a host!"), "--host", '"not a host!"');
    expect(existsSync(target)).toBe(false);
    expect(run("init", "--data", target, "--host", "gw.example.com", "192.0.2.10", "::1").code).toBe(0);
    const out = join(root, "bad-host-cert");
    expectUserError(run("pki", "server", "--data", target, "--host", "bad_host!", "--out", out), "--host", "bad_host!");
    expect(existsSync(out)).toBe(false);
  });

  it("cli - key list of an unknown device fails with a message", () => {
    expectUserError(run("key", "list", "nobody", "--data", data), "device nobody not found", "OUTPOST_NOT_FOUND");
  });

  it("cli - restrict takes a default permission from a device on its own Thing, --lift gives it back", () => {
    const bundle = join(root, "restrict-bundle");
    expect(run("device", "add", "gw-r", "--things", "valve-r", "--data", data, "--out", bundle).code).toBe(0);
    const can = () => {
      const registry = new SqliteRegistry(join(data, "registry.db"));
      try {
        return registry.can({ kind: "device", id: "gw-r" }, "valve-r", "service.execute");
      } finally {
        registry.close();
      }
    };
    expect(can()).toBe(true);
    const r = run("restrict", "gw-r", "valve-r", "service.execute", "--data", data);
    expect(r.code, r.stderr).toBe(0);
    expect(can()).toBe(false);
    expect(run("restrict", "gw-r", "valve-r", "service.execute", "--lift", "--data", data).code).toBe(0);
    expect(can()).toBe(true);
    expectUserError(run("restrict", "gw-r", "elsewhere", "service.execute", "--data", data), "not assigned");
    expectUserError(run("restrict", "gw-r", "valve-r", "fly", "--data", data), "invalid permission");
  });

  it("cli - audit verify of a missing file says the file is missing", () => {
    const missing = join(root, "nope.log");
    const r = run("audit", "verify", "--file", missing);
    expectUserError(r, missing, "not found", "--file");
    expect(r.stdout).not.toContain("BROKEN");
  });

  it("cli - an encrypted CA key without its passphrase names the key file and the flag", () => {
    const locked = join(root, "locked");
    const pw = join(root, "ca-pw");
    writeFileSync(pw, "ca-secret\n");
    expect(run("init", "--data", locked, "--ca-passphrase-file", pw).code).toBe(0);
    const caKey = join(locked, "ca", "ca.key");
    const out = join(root, "locked-bundle");
    expectUserError(run("device", "add", "gw-9", "--data", locked, "--out", out), caKey, "--ca-passphrase-file");
    expect(existsSync(out)).toBe(false);
    expectUserError(run("pki", "device", "gw-9", "--data", locked, "--out", out), caKey, "--ca-passphrase-file");
    const wrong = join(root, "wrong-pw");
    writeFileSync(wrong, "nope\n");
    expectUserError(run("pki", "device", "gw-9", "--data", locked, "--out", out, "--ca-passphrase-file", wrong), caKey);
    // Five CLI runs, three of which stretch the CA passphrase (PBKDF2, 600,000 iterations).
  }, 90_000);

  it("cli - serve names a corrupt server key file", () => {
    const broken = join(root, "broken-key");
    expect(run("init", "--data", broken).code).toBe(0);
    writeFileSync(join(broken, "tls", "server.key"), "garbage\n");
    const r = run("serve", "--data", broken, "--edge-port", "0", "--operator-port", "0");
    expectUserError(r, join(broken, "tls", "server.key"), "OUTPOST_INVALID_CONFIG");
  });

  it("cli - an unknown config.json key stops every command with the key's name", () => {
    const cfg = join(data, "config.json");
    const original = readFileSync(cfg, "utf8");
    try {
      const parsed = JSON.parse(original) as { edge: Record<string, unknown> };
      parsed.edge.prot = 9443;
      writeFileSync(cfg, JSON.stringify(parsed));
      expectUserError(run("device", "list", "--data", data), cfg, "edge.prot");
    } finally {
      writeFileSync(cfg, original);
    }
  });
});

describe("config - unknown keys", () => {
  const message = (raw: unknown): string => {
    try {
      validateServerConfig(raw);
      return "valid";
    } catch (e) {
      return (e as Error).message;
    }
  };

  it("config - refuses unknown keys at the top level and in each section, naming them", () => {
    expect(message({ logLevl: "debug" })).toContain("unknown key logLevl");
    expect(message({ edge: { prot: 1 } })).toContain("unknown key edge.prot");
    expect(message({ operator: { enable: false } })).toContain("unknown key operator.enable");
    expect(message({ authRateLimit: { max: 1 } })).toContain("unknown key authRateLimit.max");
    expect(message({ edge: { port: 9443 }, operator: { enabled: false }, logLevel: "warn" })).toBe("valid");
  });
});
