import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ems, runEms } from "../helpers/ems-process.js";
import { ServerProcess } from "../helpers/server-process.js";

describe("ems - CLI against a real server", () => {
  let server: ServerProcess;
  let base: string;

  beforeAll(async () => {
    server = ServerProcess.init();
    await server.start();
    base = join(server.dataDir, "..");
  });

  afterAll(async () => {
    await server?.dispose();
  });

  it("ems cli - csr keeps the key on the device; device add --csr, init and config check connect", () => {
    const dir = join(base, "ems-csr");
    const csr = ems(["csr", "--cn", "csr-dev", "--dir", dir]);
    expect(csr).toMatch(/^-----BEGIN CERTIFICATE REQUEST-----/);
    const csrFile = join(base, "csr-dev.csr");
    writeFileSync(csrFile, csr);
    const bundle = join(base, "bundle-csr");
    server.cli(["device", "add", "csr-dev", "--things", "csr-thing", "--csr", csrFile, "--out", bundle]);
    ems(["init", "--dir", dir, "--bundle", bundle, "--url", server.edgeUrl]);
    const check = runEms(["config", "check", "--dir", dir]);
    expect(check.stdout).toContain("ok   Auth: connected as csr-dev");
    expect(check.status).toBe(0);
  });

  it("ems cli - config check names the failing step: TCP, then Auth for a wrong application key", () => {
    const bundle = server.addDevice("check-dev", ["check-thing"]);
    const dir = join(base, "ems-check");
    ems(["init", "--dir", dir, "--bundle", bundle.dir, "--url", "wss://127.0.0.1:1/"]);
    const tcp = runEms(["config", "check", "--dir", dir]);
    expect(tcp.status).toBe(1);
    expect(tcp.stdout).toContain("FAIL TCP: cannot reach 127.0.0.1:1 (ECONNREFUSED)");
    ems(["config", "set", "server.url", server.edgeUrl, "--dir", dir]);
    ems(["config", "set", "appKey", "opk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "--dir", dir]);
    const auth = runEms(["config", "check", "--dir", dir]);
    expect(auth.status).toBe(1);
    expect(auth.stdout).toMatch(/FAIL Auth: the server refused the application key/);
    // Six CLI processes, each decrypting the key: minutes on a loaded 2-core machine.
  }, 120_000);

  it("ems cli - usage and configuration errors exit 2, with no stack trace", () => {
    const bad = runEms(["config", "list", "--dir", join(base, "nowhere")]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('run "outpost-ems init');
    expect(runEms(["no-such-command"]).status).toBe(2);
    const help = runEms(["init", "--help"]);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain("Examples:");
  });
});
