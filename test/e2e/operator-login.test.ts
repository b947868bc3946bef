import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { outpostCli, runOutpost } from "../helpers/outpost-cli.js";
import { ServerProcess } from "../helpers/server-process.js";
import { exitOf } from "../helpers/wait.js";

const PASSWORD = "pat's long password 42";

describe("outpost login with a username and password against a real server process", () => {
  let server: ServerProcess;
  let home: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    server = ServerProcess.init();
    home = mkdtempSync(join(tmpdir(), "outpost-login-home-"));
    writeFileSync(join(home, "pat.pw"), `${PASSWORD}\n`, { mode: 0o600 });
    server.cli(["operator", "add", "pat", "--password-file", join(home, "pat.pw")]);
    await server.start();
    env = { HOME: home, OUTPOST_CONFIG_DIR: join(home, "config"), NO_COLOR: "1" };
  });

  afterAll(async () => {
    await server?.dispose();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  const loginArgs = (...extra: string[]) => ["login", "--server", server.operatorUrl, "--ca", server.caPath, ...extra];

  it("login - --password-file: the token (never the password) is saved 0600; logout revokes it on the server", async () => {
    const r = await runOutpost(
      loginArgs("--user", "pat", "--password-file", join(home, "pat.pw"), "--ttl", "600"),
      env,
    );
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/logged in to https:\/\/127\.0\.0\.1:\d+ as pat until \d{4}-/);
    const file = join(home, "config", "profiles.json");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const text = readFileSync(file, "utf8");
    expect(text).not.toContain(PASSWORD);
    const saved = JSON.parse(text).profiles.default;
    expect(saved.token).toMatch(/^opt_/);
    expect(saved.login).toMatchObject({ user: "pat" });
    const who = await runOutpost(["whoami", "--json"], env);
    expect(JSON.parse(who.stdout)).toMatchObject({ operator: "pat", tokenId: saved.login.tokenId });

    const out = await runOutpost(["logout"], env);
    expect(out.status).toBe(0);
    expect(out.stdout).toContain("its token was revoked");
    const reuse = await runOutpost(["whoami"], {
      ...env,
      OUTPOST_SERVER: server.operatorUrl,
      OUTPOST_CA: server.caPath,
      OUTPOST_TOKEN: saved.token,
    });
    expect(reuse.status).not.toBe(0);
    expect(reuse.stderr).toContain("OUTPOST_UNAUTHORIZED");
    const audit = readFileSync(join(server.dataDir, "audit.log"), "utf8");
    expect(audit).toContain('"operator.login.success"');
    expect(audit).toContain('"operator.token.revoke"');
    expect(audit).not.toContain(PASSWORD);
  }, 120_000);

  it("login - the password from standard input; a wrong one exits 1 with the server's refusal", async () => {
    const ok = await runOutpost(
      loginArgs("--user", "pat", "--password-file", "-", "--profile", "stdin"),
      env,
      `${PASSWORD}\n`,
    );
    expect(ok.status).toBe(0);
    const bad = await runOutpost(loginArgs("--user", "pat"), env, "wrong password\n");
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain("invalid username or password");
    expect(bad.stderr).toContain("OUTPOST_UNAUTHORIZED");
    const both = await runOutpost(loginArgs("--user", "pat", "--token-file", "x"), env);
    expect(both.status).toBe(2);
  }, 120_000);

  it("login - on a terminal the password prompt does not echo", async () => {
    // script(1) gives the CLI a pseudo-terminal as standard input.
    const cmd = [process.execPath, outpostCli, ...loginArgs("--user", "pat", "--profile", "tty")]
      .map((a) => `'${a.replaceAll("'", "'\\''")}'`)
      .join(" ");
    const child = spawn("script", ["-qefc", cmd, "/dev/null"], { env: { PATH: process.env.PATH ?? "", ...env } });
    let output = "";
    child.stdout.on("data", (d: Buffer) => {
      output += d.toString();
      if (output.includes("password for pat: ") && !output.includes("\u0000sent")) {
        output += "\u0000sent";
        child.stdin.write(`${PASSWORD}\r`);
      }
    });
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    expect(await exitOf("outpost login on a pty", child, 90_000)).toBe(0);
    expect(output).toContain("logged in to");
    expect(output).not.toContain(PASSWORD);
  }, 120_000);
});
