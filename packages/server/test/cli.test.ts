import { spawn, spawnSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { type ConnectionOptions, connect as tlsConnect } from "node:tls";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SqliteRegistry } from "../src/registry/sqlite.js";

// Runs the built CLI: build with `npx tsc -b packages/server` first.
const MAIN = resolve(dirname(fileURLToPath(import.meta.url)), "../dist/cli/main.js");

/** Opens a TLS connection as "localhost"; "authorized" if the server stays connected after the handshake. */
function tlsProbe(port: number, options: ConnectionOptions): Promise<string> {
  return new Promise((resolveProbe) => {
    const sock = tlsConnect({ host: "127.0.0.1", servername: "localhost", port, ...options });
    sock.on("secureConnect", () => {
      if (!sock.authorized) return resolveProbe(`unauthorized: ${String(sock.authorizationError)}`);
      // With TLS 1.3 a refused client certificate arrives as an alert after the handshake: write and wait.
      sock.write("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
      sock.once("data", () => {
        sock.destroy();
        resolveProbe("authorized");
      });
    });
    sock.on("error", (e) => resolveProbe(`error: ${e.message}`));
    sock.on("close", () => resolveProbe("error: closed"));
  });
}

function run(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [MAIN, ...args], {
    encoding: "utf8",
    env: { ...process.env, OUTPOST_DATA: "" },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("cli", () => {
  let root: string;
  let data: string;
  let adminToken: string;
  beforeAll(() => {
    expect(existsSync(MAIN), "build packages/server first").toBe(true);
    root = mkdtempSync(join(tmpdir(), "outpost-cli-"));
    data = join(root, "data");
    const r = run("init", "--data", data, "--host", "localhost", "127.0.0.1");
    expect(r.code, r.stderr).toBe(0);
    adminToken = r.stdout.trim();
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it("cli - init prints the admin token once and refuses to run twice", () => {
    expect(adminToken).toMatch(/^opt_[A-Za-z0-9_-]{16}_[A-Za-z0-9_-]{43}$/);
    const again = run("init", "--data", data);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("OUTPOST_CONFLICT");
    expect(again.stderr).not.toContain("    at ");
    expect(again.stdout).toBe("");
  });

  it("cli - device add writes a bundle and the key works against the registry", () => {
    const out = join(root, "bundle-1");
    const pw = join(root, "pw");
    writeFileSync(pw, "device-pass\n");
    const r = run(
      "device",
      "add",
      "pump-1",
      "--data",
      data,
      "--things",
      "pump,valve",
      "--out",
      out,
      "--passphrase-file",
      pw,
      "--key-ttl",
      "30d",
    );
    expect(r.code, r.stderr).toBe(0);
    const appKey = readFileSync(join(out, "app-key"), "utf8").trim();
    expect(r.stdout).not.toContain(appKey);
    expect(statSync(join(out, "device.key")).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(out, "device.key"), "utf8")).toContain("ENCRYPTED");
    const reg = new SqliteRegistry(join(data, "registry.db"));
    try {
      const check = reg.checkKey(appKey);
      expect(check.ok).toBe(true);
      if (check.ok) expect(check.key.expiresAt! - check.key.createdAt).toBe(30 * 86_400_000);
    } finally {
      reg.close();
    }
    const list = run("device", "list", "--data", data);
    expect(list.stdout).toContain("pump-1\tenabled\tpump,valve");
  });

  it("cli - key add, list and revoke", () => {
    const add = run("key", "add", "pump-1", "--data", data, "--label", "spare");
    expect(add.code, add.stderr).toBe(0);
    const key = add.stdout.trim();
    expect(key).toMatch(/^opk_/);
    const keyId = key.slice(4, 20);
    expect(run("key", "list", "pump-1", "--data", data).stdout).toContain(`${keyId}\tactive`);
    expect(run("key", "revoke", keyId, "--data", data).code).toBe(0);
    expect(run("key", "list", "pump-1", "--data", data).stdout).toContain(`${keyId}\trevoked`);
    const twice = run("key", "revoke", keyId, "--data", data);
    expect(twice.code).toBe(1);
    expect(twice.stderr).toContain("OUTPOST_CONFLICT");
  });

  it("cli - operator, grant and thing assign are applied and audited", () => {
    const op = run("operator", "add", "alice", "--data", data);
    expect(op.code, op.stderr).toBe(0);
    expect(run("grant", "alice", "pump", "property.read", "--data", data).code).toBe(0);
    expect(run("thing", "assign", "tank", "pump-1", "--data", data).code).toBe(0);
    const bad = run("grant", "alice", "pump", "everything", "--data", data);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("OUTPOST_BAD_REQUEST");
    const reg = new SqliteRegistry(join(data, "registry.db"));
    try {
      expect(reg.can({ kind: "operator", id: "alice" }, "pump", "property.read")).toBe(true);
      expect(reg.checkOperator(op.stdout.trim()).ok).toBe(true);
      expect(reg.getThing("tank")?.deviceId).toBe("pump-1");
    } finally {
      reg.close();
    }
    const log = readFileSync(join(data, "audit.log"), "utf8");
    for (const action of [
      "init",
      "device.onboard",
      "key.add",
      "key.revoke",
      "operator.add",
      "permission.grant",
      "thing.assign",
    ]) {
      expect(log).toContain(`"action":"${action}"`);
    }
    expect(log).not.toContain(op.stdout.trim().slice(21));
  });

  it("cli - operator tokens can be rotated and revoked", () => {
    expect(run("operator", "add", "bob", "--data", data).code).toBe(0);
    const second = run("operator", "token", "bob", "--data", data);
    expect(second.code, second.stderr).toBe(0);
    const token = second.stdout.trim();
    const tokenId = token.slice(4, 20);
    expect(run("operator", "revoke-token", tokenId, "--data", data).code).toBe(0);
    const again = run("operator", "revoke-token", tokenId, "--data", data);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("OUTPOST_NOT_FOUND");
    const reg = new SqliteRegistry(join(data, "registry.db"));
    try {
      expect(reg.checkOperator(token)).toEqual({ ok: false, reason: "revoked" });
    } finally {
      reg.close();
    }
  });

  it("cli - audit verify reports an intact chain and a tampered one", () => {
    const ok = run("audit", "verify", "--data", data);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^ok: \d+ records/);
    const copy = join(root, "tampered.log");
    writeFileSync(copy, readFileSync(join(data, "audit.log"), "utf8").replace('"operator.add"', '"operator.del"'));
    const broken = run("audit", "verify", "--file", copy);
    expect(broken.code).toBe(2);
    expect(broken.stdout).toContain("BROKEN at seq");
  });

  it("cli - audit anchor signs the log; verify with the anchor kept elsewhere detects truncation", () => {
    const a = run("audit", "anchor", "--data", data);
    expect(a.code, a.stderr).toBe(0);
    const anchor = JSON.parse(a.stdout) as { seq: number; hash: string; signature: string; publicKey: string };
    expect(anchor.publicKey).toContain("BEGIN PUBLIC KEY");
    expect(statSync(join(data, "audit", "signing.key")).mode & 0o777).toBe(0o600);
    const kept = join(root, "kept-anchor.json");
    writeFileSync(kept, a.stdout);
    const ok = run("audit", "verify", "--data", data, "--anchor", kept);
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    expect(ok.stdout).toContain(`signed through seq ${anchor.seq}`);
    expect(ok.stdout).toContain("reaches its anchor");

    const lines = readFileSync(join(data, "audit.log"), "utf8").trimEnd().split("\n");
    const copy = join(root, "truncated.log");
    writeFileSync(copy, `${lines.slice(0, anchor.seq - 1).join("\n")}\n`);
    const cut = run("audit", "verify", "--data", data, "--file", copy, "--anchor", kept);
    expect(cut.code).toBe(2);
    expect(cut.stdout).toContain(`BROKEN at seq ${anchor.seq}`);
    expect(cut.stdout).toContain("removed from the end");
  });

  it("cli - pki ca, csr and sign-csr produce a verifiable certificate", () => {
    const ca = join(root, "pki-ca");
    expect(run("pki", "ca", "--out", ca, "--cn", "Fleet CA").code).toBe(0);
    expect(statSync(join(ca, "ca.key")).mode & 0o777).toBe(0o600);
    const dev = join(root, "pki-dev");
    expect(run("pki", "csr", "sensor-1", "--out", dev).code).toBe(0);
    const certFile = join(dev, "device.pem");
    const args = ["--ca-cert", join(ca, "ca.pem"), "--ca-key", join(ca, "ca.key"), "--out", certFile];
    const wrong = run("pki", "sign-csr", join(dev, "device.csr"), "--device-id", "other", ...args);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain("OUTPOST_FORBIDDEN");
    const signed = run("pki", "sign-csr", join(dev, "device.csr"), "--device-id", "sensor-1", ...args);
    expect(signed.code, signed.stderr).toBe(0);
    const cert = new X509Certificate(readFileSync(certFile));
    expect(cert.subject).toBe("CN=sensor-1");
    expect(cert.checkIssued(new X509Certificate(readFileSync(join(ca, "ca.pem"))))).toBe(true);
  });

  it("cli - unknown commands and missing data directories fail cleanly", () => {
    const r = run("device", "list", "--data", join(root, "missing"));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("OUTPOST_INVALID_CONFIG");
    expect(r.stderr).not.toContain("    at ");
    expect(run("frobnicate").code).toBe(1);
  });

  it("cli - serve starts from the data directory and stops on SIGTERM", async () => {
    const cfgPath = join(data, "config.json");
    const cfg = JSON.parse(readFileSync(cfgPath, "utf8"));
    cfg.edge.port = 0;
    cfg.operator.port = 0;
    cfg.logLevel = "silent";
    writeFileSync(cfgPath, JSON.stringify(cfg));
    const child = spawn(process.execPath, [MAIN, "serve", "--data", data], { stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    const started = new Promise<string>((resolveStarted, reject) => {
      child.stderr.on("data", (d: Buffer) => {
        stderr += d.toString();
        const m = /edge endpoint: (\S+)/.exec(stderr);
        if (m) resolveStarted(m[1]!);
      });
      child.on("exit", (code) => reject(new Error(`serve exited early with ${code}: ${stderr}`)));
    });
    const url = await started;
    expect(url).toMatch(/^wss:\/\/127\.0\.0\.1:\d+/);
    const port = Number(new URL(url).port);
    const bundle = join(root, "bundle-1");
    // The onboarding bundle is all a device needs for mutual TLS with the served edge endpoint.
    const withCert = await tlsProbe(port, {
      ca: readFileSync(join(bundle, "ca.pem")),
      cert: readFileSync(join(bundle, "device.pem")),
      key: readFileSync(join(bundle, "device.key")),
      passphrase: "device-pass",
    });
    expect(withCert).toBe("authorized");
    const withoutCert = await tlsProbe(port, { ca: readFileSync(join(bundle, "ca.pem")) });
    expect(withoutCert).toMatch(/^error/);
    const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
  });
});
