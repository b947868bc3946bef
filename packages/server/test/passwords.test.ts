import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashPassword, verifyNothing, verifyPassword } from "../src/auth/passwords.js";
import { SqliteRegistry } from "../src/registry/sqlite.js";

const MAIN = resolve(dirname(fileURLToPath(import.meta.url)), "../dist/cli/main.js");
const FAST = { log2N: 10, r: 8, p: 1 };

function run(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [MAIN, ...args], {
    encoding: "utf8",
    env: { ...process.env, OUTPOST_DATA: "" },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("passwords", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "outpost-pw-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("passwords - a hash verifies its password only, holds no plaintext and is salted", async () => {
    const a = await hashPassword("correct horse battery", FAST);
    const b = await hashPassword("correct horse battery", FAST);
    expect(a).toMatch(/^scrypt\$10\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    expect(a).not.toBe(b);
    expect(a).not.toContain("horse");
    expect(await verifyPassword("correct horse battery", a)).toBe(true);
    expect(await verifyPassword("correct horse batterY", a)).toBe(false);
    expect(await verifyPassword("", a)).toBe(false);
    expect(await verifyPassword("correct horse battery", a.slice(0, -2) + "AA")).toBe(false);
  });

  it("passwords - the default parameters are N=2^15, r=8, p=1", async () => {
    expect(await hashPassword("twelve chars!")).toMatch(/^scrypt\$15\$8\$1\$/);
  }, 120_000);

  it("passwords - malformed hashes, huge and non-string input never match and never throw", async () => {
    expect(await verifyPassword("x", "plaintext")).toBe(false);
    expect(await verifyPassword("x".repeat(5000), await hashPassword("x".repeat(20), FAST))).toBe(false);
    expect(await verifyPassword(42 as unknown as string, await hashPassword("x".repeat(20), FAST))).toBe(false);
    expect(await verifyNothing("anything")).toBe(false);
  });

  it("passwords - too short and too long new passwords are refused", async () => {
    await expect(hashPassword("short")).rejects.toMatchObject({ code: "OUTPOST_BAD_REQUEST" });
    await expect(hashPassword("x".repeat(1025))).rejects.toMatchObject({ code: "OUTPOST_BAD_REQUEST" });
  });

  it("credentials - a version 5 registry is migrated and gains passwords and login tokens", () => {
    const path = join(dir, "v5.db");
    new SqliteRegistry(path).close();
    const db = new Database(path);
    db.exec("DROP TABLE login_tokens; DROP TABLE operator_passwords; DELETE FROM schema_version;");
    // The tables of later versions go too, so the file is a real version 5 layout.
    db.exec(
      "DROP TABLE visibility; DROP TABLE org_unit_members; DROP TABLE org_units; DROP TABLE organizations; " +
        "DROP TABLE access_entries; DROP TABLE access_group_members; DROP TABLE access_groups;",
    );
    db.exec("INSERT INTO schema_version (version) VALUES (5)");
    db.prepare("INSERT INTO operators (name, admin, created_at) VALUES ('old-op', 0, 1)").run();
    db.close();
    const reg = new SqliteRegistry(path);
    try {
      reg.credentials.setPassword("old-op", "scrypt$x");
      expect(reg.credentials.passwordHash("old-op")).toBe("scrypt$x");
      const { token, record } = reg.credentials.issue({
        operator: "old-op",
        kind: "token",
        authenticator: "local",
        groups: [],
        scope: { things: ["pump-1"] },
        source: "127.0.0.1",
        ttlMs: 60_000,
      });
      const check = reg.credentials.check(token);
      expect(check.ok && check.record.scope).toEqual({ things: ["pump-1"] });
      expect(reg.checkOperator(token).ok).toBe(false);
      expect(reg.credentials.check(token, record.expiresAt).ok).toBe(false);
      expect(reg.credentials.revoke(record.tokenId)).toBe(true);
      expect(reg.credentials.check(token)).toMatchObject({ ok: false, reason: "revoked" });
    } finally {
      reg.close();
    }
  });

  it("cli - operator add --password-file and passwd store only a scrypt hash and revoke login tokens", () => {
    const data = join(dir, "data");
    expect(run("init", "--data", data, "--host", "localhost").code).toBe(0);
    const pw = join(dir, "pw");
    writeFileSync(pw, "first password 1\n", { mode: 0o600 });
    const add = run("operator", "add", "alice", "--password-file", pw, "--data", data);
    expect(add.code, add.stderr).toBe(0);
    const reg = new SqliteRegistry(join(data, "registry.db"));
    const first = reg.credentials.passwordHash("alice")!;
    expect(first).toMatch(/^scrypt\$15\$/);
    const { record } = reg.credentials.issue({
      operator: "alice",
      kind: "session",
      authenticator: "local",
      groups: [],
      scope: null,
      source: "127.0.0.1",
      ttlMs: 60_000,
    });
    reg.close();
    writeFileSync(pw, "second password 2\n");
    const passwd = run("operator", "passwd", "alice", "--password-file", pw, "--data", data);
    expect(passwd.code, passwd.stderr).toBe(0);
    expect(passwd.stdout).toContain("1 login token(s) revoked");
    const reg2 = new SqliteRegistry(join(data, "registry.db"));
    expect(reg2.credentials.passwordHash("alice")).not.toBe(first);
    expect(reg2.credentials.listActive("alice").map((t) => t.tokenId)).not.toContain(record.tokenId);
    reg2.close();
    for (const file of ["registry.db", "registry.db-wal"]) {
      const bytes = existsSync(join(data, file)) ? readFileSync(join(data, file)) : Buffer.alloc(0);
      expect(bytes.includes("first password")).toBe(false);
      expect(bytes.includes("second password")).toBe(false);
    }
    const audit = readFileSync(join(data, "audit.log"), "utf8");
    expect(audit).toContain("operator.password.set");
    expect(audit).not.toContain("password 2");
    writeFileSync(pw, "short\n");
    const refused = run("operator", "passwd", "alice", "--password-file", pw, "--data", data);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain("OUTPOST_BAD_REQUEST");
  }, 120_000);
});
