import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EdgeClient, silentLogger } from "@outpost/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ems, runEms } from "../helpers/ems-process.js";
import { ServerProcess } from "../helpers/server-process.js";

/** Logs in over mutual TLS with `cert`/`key` and resolves with the session's device id. */
async function login(server: ServerProcess, cert: string, key: string, appKey: string): Promise<string> {
  const client = new EdgeClient({
    url: server.edgeUrl,
    appKey,
    tls: { ca: server.caPem, cert, key },
    reconnect: false,
    logger: silentLogger,
  });
  client.on("error", () => undefined);
  try {
    await client.connect();
    const status = client.status;
    return status.type === "connected" ? status.deviceId : `not connected: ${status.type}`;
  } finally {
    await client.close();
  }
}

const curveOf = (pem: string) => new X509Certificate(pem).publicKey.asymmetricKeyDetails?.namedCurve;

describe("EC P-256 device keys", () => {
  let server: ServerProcess;
  let base: string;

  beforeAll(async () => {
    server = ServerProcess.init();
    await server.start();
    base = mkdtempSync(join(tmpdir(), "outpost-p256-"));
  });

  afterAll(async () => {
    await server?.dispose();
    if (base) rmSync(base, { recursive: true, force: true });
  });

  it("p256 - device add --key-type p256 issues a P-256 certificate that logs in over mutual TLS", async () => {
    const bundle = server.addDevice("ec-dev", ["ec-thing"], ["--key-type", "p256"]);
    expect(curveOf(bundle.cert)).toBe("prime256v1");
    expect(bundle.key).toContain("BEGIN PRIVATE KEY");
    expect(await login(server, bundle.cert, bundle.key, bundle.appKey)).toBe("ec-dev");
    // The default stays RSA.
    const rsa = server.addDevice("rsa-dev", ["rsa-thing"]);
    expect(new X509Certificate(rsa.cert).publicKey.asymmetricKeyType).toBe("rsa");
  });

  it("p256 - a CSR made by openssl ecparam/req (as a secure element would) is signed and logs in", async () => {
    const key = join(base, "se.key");
    const csr = join(base, "se.csr");
    execFileSync("openssl", ["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key], { stdio: "pipe" });
    execFileSync("openssl", ["req", "-new", "-key", key, "-subj", "/CN=se-dev", "-out", csr], { stdio: "pipe" });
    const out = join(base, "bundle-se");
    server.cli(["device", "add", "se-dev", "--things", "se-thing", "--csr", csr, "--out", out]);
    const cert = readFileSync(join(out, "device.pem"), "utf8");
    expect(curveOf(cert)).toBe("prime256v1");
    // The certificate is for the CSR's key: openssl agrees, and so does the login.
    const verified = execFileSync("openssl", ["verify", "-CAfile", server.caPath, join(out, "device.pem")], {
      encoding: "utf8",
    });
    expect(verified).toContain(": OK");
    const appKey = readFileSync(join(out, "app-key"), "utf8").trim();
    expect(await login(server, cert, readFileSync(key, "utf8"), appKey)).toBe("se-dev");
  });

  it("p256 - a CSR for a curve the policy does not allow (secp256k1) is refused with OUTPOST_TLS", () => {
    const key = join(base, "weak.key");
    const csr = join(base, "weak.csr");
    execFileSync("openssl", ["ecparam", "-name", "secp256k1", "-genkey", "-noout", "-out", key], { stdio: "pipe" });
    execFileSync("openssl", ["req", "-new", "-key", key, "-subj", "/CN=weak-dev", "-out", csr], { stdio: "pipe" });
    expect(() => server.cli(["device", "add", "weak-dev", "--csr", csr, "--out", join(base, "bundle-weak")])).toThrow(
      /OUTPOST_TLS\)?[^]*P-256, P-384 or P-521 is required|P-256, P-384 or P-521 is required[^]*OUTPOST_TLS/,
    );
  });

  it("p256 - a CSR whose signature does not verify is refused", () => {
    const key = join(base, "tampered.key");
    const csr = join(base, "tampered.csr");
    execFileSync("openssl", ["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key], { stdio: "pipe" });
    execFileSync("openssl", ["req", "-new", "-key", key, "-subj", "/CN=tampered-dev", "-out", csr], { stdio: "pipe" });
    // The DER ends with the signature: flip its last byte.
    const der = Buffer.from(readFileSync(csr, "utf8").replace(/-----[^-]+-----|\s/g, ""), "base64");
    der[der.length - 1]! ^= 0x01;
    const body = der.toString("base64").replace(/.{1,64}/g, "$&\n");
    writeFileSync(csr, `-----BEGIN CERTIFICATE REQUEST-----\n${body}-----END CERTIFICATE REQUEST-----\n`);
    expect(() =>
      server.cli(["device", "add", "tampered-dev", "--csr", csr, "--out", join(base, "bundle-tampered")]),
    ).toThrow(/the CSR signature does not verify/);
  });

  it("p256 - outpost-ems csr --key-type p256: openssl verifies the CSR, the server signs it, the EMS logs in", () => {
    const dir = join(base, "ems-p256");
    const csrPem = ems(["csr", "--cn", "ems-ec", "--key-type", "p256", "--dir", dir]);
    const csrFile = join(base, "ems-ec.csr");
    writeFileSync(csrFile, csrPem);
    const text = execFileSync("openssl", ["req", "-in", csrFile, "-noout", "-verify", "-text"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    });
    expect(text).toContain("prime256v1");
    expect(text).toContain("ecdsa-with-SHA256");
    const bundle = join(base, "bundle-ems-ec");
    server.cli(["device", "add", "ems-ec", "--things", "ems-ec-thing", "--csr", csrFile, "--out", bundle]);
    expect(curveOf(readFileSync(join(bundle, "device.pem"), "utf8"))).toBe("prime256v1");
    ems(["init", "--dir", dir, "--bundle", bundle, "--url", server.edgeUrl]);
    const check = runEms(["config", "check", "--dir", dir]);
    expect(check.stdout).toContain("ok   Auth: connected as ems-ec");
    expect(check.status).toBe(0);
  });
});
