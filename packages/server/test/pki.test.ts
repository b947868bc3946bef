import { execFileSync } from "node:child_process";
import { createPrivateKey, generateKeyPairSync, X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, createServer } from "node:tls";
import { isOutpostError } from "@outpost/protocol";
import { beforeAll, describe, expect, it } from "vitest";
import {
  type CertificateAndKey,
  createCertificateAuthority,
  issueDeviceCertificate,
  issueServerCertificate,
} from "../src/pki/certificates.js";
import { createDeviceCsr, signDeviceCsr } from "../src/pki/csr.js";
import { certificateIdentity } from "../src/pki/identity.js";
import { loadPrivateKey } from "../src/pki/keys.js";

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return isOutpostError(e) ? e.code : `non-outpost: ${String(e)}`;
  }
  return undefined;
}

/** Mutual TLS handshake on loopback; resolves with the server-side view or the client error. */
async function handshake(
  ca: CertificateAndKey,
  server: CertificateAndKey,
  client: { certPem: string; keyPem: string; passphrase?: string },
): Promise<{ ok: true; peerCn: string } | { ok: false; error: string }> {
  const srv = createServer({
    cert: server.certPem,
    key: server.keyPem,
    ca: ca.certPem,
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: "TLSv1.2",
  });
  let peerCn = "";
  srv.on("secureConnection", (s) => {
    peerCn = s.getPeerX509Certificate()?.subject.replace("CN=", "") ?? "";
    s.end("hi");
  });
  srv.on("tlsClientError", () => {});
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as AddressInfo).port;
  try {
    return await new Promise((resolve) => {
      const sock = connect({
        host: "127.0.0.1",
        port,
        ca: ca.certPem,
        cert: client.certPem,
        key: client.keyPem,
        ...(client.passphrase === undefined ? {} : { passphrase: client.passphrase }),
      });
      sock.on("data", () => {
        sock.end();
        resolve({ ok: true, peerCn });
      });
      sock.on("error", (e) => resolve({ ok: false, error: e.message }));
      sock.on("close", () => resolve({ ok: false, error: "closed" }));
    });
  } finally {
    await new Promise((r) => srv.close(r));
  }
}

describe("pki", () => {
  let ca: CertificateAndKey;
  let server: CertificateAndKey;
  beforeAll(() => {
    ca = createCertificateAuthority({ commonName: "Test CA" });
    server = issueServerCertificate(ca, { hosts: ["localhost", "127.0.0.1", "::1"] });
  });

  it("pki - CA is self-signed, a CA, and has a positive 128-bit serial", () => {
    const x = new X509Certificate(ca.certPem);
    expect(x.ca).toBe(true);
    expect(x.checkIssued(x)).toBe(true);
    expect(x.verify(x.publicKey)).toBe(true);
    expect(x.subject).toBe("CN=Test CA");
    expect(x.serialNumber.replace(/^00/, "").length).toBeGreaterThanOrEqual(31);
    const days = (Date.parse(x.validTo) - Date.parse(x.validFrom)) / 86_400_000;
    expect(Math.round(days)).toBe(3650);
  });

  it("pki - server certificate verifies against the CA and names its hosts", () => {
    const x = new X509Certificate(server.certPem);
    const cax = new X509Certificate(ca.certPem);
    expect(x.checkIssued(cax)).toBe(true);
    expect(x.verify(cax.publicKey)).toBe(true);
    expect(x.ca).toBe(false);
    expect(x.checkHost("localhost")).toBe("localhost");
    expect(x.checkIP("127.0.0.1")).toBe("127.0.0.1");
    expect(x.checkIP("::1")).toBeDefined();
    expect(x.checkHost("example.com")).toBeUndefined();
    expect(x.keyUsage).toContain("1.3.6.1.5.5.7.3.1");
    expect(x.subject).toBe("CN=localhost");
  });

  it("pki - device certificate has CN = device id and clientAuth", () => {
    const dev = issueDeviceCertificate(ca, { deviceId: "dev-1" });
    const x = new X509Certificate(dev.certPem);
    expect(x.checkIssued(new X509Certificate(ca.certPem))).toBe(true);
    expect(x.keyUsage).toEqual(["1.3.6.1.5.5.7.3.2"]);
    const id = certificateIdentity(dev.certPem);
    expect(id.commonName).toBe("dev-1");
    expect(id.issuerCommonName).toBe("Test CA");
    expect(id.fingerprint256).toBe(x.fingerprint256);
    expect(id.notAfter.getTime()).toBeGreaterThan(Date.now() + 824 * 86_400_000);
    expect(x.checkPrivateKey(createPrivateKey(dev.keyPem))).toBe(true);
  });

  it("pki - an encrypted device key needs its passphrase", () => {
    const dev = issueDeviceCertificate(ca, { deviceId: "dev-2", passphrase: "s3cret" });
    expect(dev.keyPem).toContain("BEGIN ENCRYPTED PRIVATE KEY");
    expect(codeOf(() => loadPrivateKey(dev.keyPem))).toBe("OUTPOST_TLS");
    expect(codeOf(() => loadPrivateKey(dev.keyPem, "wrong"))).toBe("OUTPOST_TLS");
    const key = loadPrivateKey(dev.keyPem, "s3cret");
    expect(new X509Certificate(dev.certPem).checkPrivateKey(key)).toBe(true);
  });

  it("pki - an encrypted key uses PBKDF2-HMAC-SHA256 with 600,000 iterations and openssl reads it", () => {
    const dev = issueDeviceCertificate(ca, { deviceId: "dev-kdf", passphrase: "s3cret" });
    const dir = mkdtempSync(join(tmpdir(), "outpost-kdf-"));
    try {
      writeFileSync(join(dir, "k.pem"), dev.keyPem);
      const parsed = execFileSync("openssl", ["asn1parse", "-in", join(dir, "k.pem")], { encoding: "utf8" });
      expect(parsed).toContain("PBKDF2");
      expect(parsed).toContain("hmacWithSHA256");
      expect(parsed).toContain("aes-256-cbc");
      // 600000 = 0x0927C0
      expect(parsed).toMatch(/INTEGER\s+:0927C0/);
      const out = execFileSync("openssl", ["pkey", "-in", join(dir, "k.pem"), "-passin", "pass:s3cret", "-pubout"], {
        encoding: "utf8",
      });
      expect(out).toContain("BEGIN PUBLIC KEY");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("pki - issuance refuses CSRs with weak keys or SHA-1 and lifetimes over 825 days (openssl-made CSRs)", () => {
    const dir = mkdtempSync(join(tmpdir(), "outpost-policy-"));
    try {
      const csr = (name: string, args: string[]) => {
        execFileSync(
          "openssl",
          ["req", "-new", "-nodes", "-keyout", join(dir, `${name}.key`), "-out", join(dir, `${name}.csr`)].concat(
            ["-subj", "/CN=dev-weak"],
            args,
          ),
          { stdio: "pipe" },
        );
        return readFileSync(join(dir, `${name}.csr`), "utf8");
      };
      const refusal = (fn: () => unknown) => {
        try {
          fn();
        } catch (e) {
          return isOutpostError(e) ? `${e.code}: ${e.message}` : String(e);
        }
        return "accepted";
      };
      expect(refusal(() => signDeviceCsr(ca, csr("rsa1024", ["-newkey", "rsa:1024"])))).toMatch(
        /OUTPOST_TLS: .*RSA key of 1024 bits; at least 2048/,
      );
      expect(refusal(() => signDeviceCsr(ca, csr("rsa512", ["-newkey", "rsa:512"])))).toMatch(/RSA key of 512 bits/);
      expect(refusal(() => signDeviceCsr(ca, csr("sha1", ["-newkey", "rsa:2048", "-sha1"])))).toMatch(
        /OUTPOST_TLS: .*weaker than SHA-256/,
      );
      expect(refusal(() => signDeviceCsr(ca, csr("good", ["-newkey", "rsa:2048"])))).toBe("accepted");
      expect(refusal(() => signDeviceCsr(ca, csr("long", ["-newkey", "rsa:2048"]), { days: 1000 }))).toMatch(
        /valid for 1000 days; at most 825/,
      );
      expect(refusal(() => issueDeviceCertificate(ca, { deviceId: "dev-long", days: 3650 }))).toMatch(/at most 825/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("pki - a key encrypted with the old 2,048-iteration default still loads", () => {
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const old = privateKey.export({ type: "pkcs8", format: "pem", cipher: "aes-256-cbc", passphrase: "pw" }).toString();
    expect(loadPrivateKey(old, "pw").asymmetricKeyType).toBe("ec");
  });

  it("pki - a passphrase-protected CA can sign when given the passphrase", () => {
    const pca = createCertificateAuthority({ commonName: "Locked CA", passphrase: "ca-pass", days: 10 });
    expect(pca.keyPem).toContain("ENCRYPTED");
    expect(codeOf(() => issueDeviceCertificate(pca, { deviceId: "d" }))).toBe("OUTPOST_TLS");
    const dev = issueDeviceCertificate({ ...pca, passphrase: "ca-pass" }, { deviceId: "d" });
    expect(new X509Certificate(dev.certPem).checkIssued(new X509Certificate(pca.certPem))).toBe(true);
  });

  it("pki - CSR flow: key stays with the device, certificate matches it", () => {
    const { csrPem, keyPem } = createDeviceCsr({ deviceId: "dev-3", passphrase: "pw" });
    expect(csrPem).toContain("BEGIN CERTIFICATE REQUEST");
    const certPem = signDeviceCsr(ca, csrPem, { deviceId: "dev-3", days: 30 });
    const x = new X509Certificate(certPem);
    expect(x.subject).toBe("CN=dev-3");
    expect(x.checkIssued(new X509Certificate(ca.certPem))).toBe(true);
    expect(x.checkPrivateKey(loadPrivateKey(keyPem, "pw"))).toBe(true);
  });

  it("pki - CSR for another device, tampered or garbage CSR is refused with a typed error", () => {
    const { csrPem } = createDeviceCsr({ deviceId: "dev-4" });
    expect(codeOf(() => signDeviceCsr(ca, csrPem, { deviceId: "dev-5" }))).toBe("OUTPOST_FORBIDDEN");
    expect(codeOf(() => signDeviceCsr(ca, "not a csr"))).toBe("OUTPOST_TLS");
    const body = csrPem.split("\n").slice(1, -2).join("");
    const der = Buffer.from(body, "base64");
    der[der.length - 10]! ^= 0xff; // inside the signature
    const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString("base64")}\n-----END CERTIFICATE REQUEST-----\n`;
    expect(codeOf(() => signDeviceCsr(ca, tampered))).toBe("OUTPOST_TLS");
  });

  it("pki - bad options are typed errors", () => {
    expect(codeOf(() => issueDeviceCertificate(ca, { deviceId: "../etc" }))).toBe("OUTPOST_BAD_REQUEST");
    expect(codeOf(() => issueServerCertificate(ca, { hosts: [] }))).toBe("OUTPOST_BAD_REQUEST");
    expect(codeOf(() => issueDeviceCertificate(ca, { deviceId: "d", days: 0 }))).toBe("OUTPOST_BAD_REQUEST");
    expect(codeOf(() => certificateIdentity("nope"))).toBe("OUTPOST_TLS");
    const other = createCertificateAuthority({ commonName: "Other" });
    expect(codeOf(() => issueDeviceCertificate({ certPem: ca.certPem, keyPem: other.keyPem }, { deviceId: "d" }))).toBe(
      "OUTPOST_TLS",
    );
  });

  it("pki - mutual TLS handshake works with issued certificates and an encrypted device key", async () => {
    const dev = issueDeviceCertificate(ca, { deviceId: "dev-tls", passphrase: "pw" });
    const r = await handshake(ca, server, { ...dev, passphrase: "pw" });
    expect(r).toEqual({ ok: true, peerCn: "dev-tls" });
  });

  it("pki - an expired device certificate is refused by the TLS server", async () => {
    const past = issueDeviceCertificate(ca, {
      deviceId: "dev-old",
      notBefore: new Date(Date.now() - 10 * 86_400_000),
      notAfter: new Date(Date.now() - 86_400_000),
    });
    expect(certificateIdentity(past.certPem).notAfter.getTime()).toBeLessThan(Date.now());
    const r = await handshake(ca, server, past);
    expect(r.ok).toBe(false);
  });

  it("pki - a certificate from another CA is refused by the TLS server", async () => {
    const other = createCertificateAuthority({ commonName: "Rogue" });
    const dev = issueDeviceCertificate(other, { deviceId: "dev-1" });
    const r = await handshake(ca, server, dev);
    expect(r.ok).toBe(false);
  });
});
