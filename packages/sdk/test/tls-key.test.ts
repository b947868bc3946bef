import { execFileSync } from "node:child_process";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { withDecryptedKey } from "../src/transport/tls.js";
import { makeCerts, type TestCerts } from "./helpers/certs.js";

describe("device key decryption", () => {
  let certs: TestCerts;
  let encrypted: string;

  beforeAll(() => {
    certs = makeCerts();
    encrypted = execFileSync(
      "openssl",
      ["pkcs8", "-topk8", "-v2", "aes-256-cbc", "-v2prf", "hmacWithSHA256", "-passout", "pass:correct horse"],
      { input: certs.clientKey },
    ).toString();
  });
  afterAll(() => certs?.cleanup());

  it("tls - an encrypted device key is decrypted once, so reconnects do not repeat the key derivation", () => {
    expect(encrypted).toContain("ENCRYPTED PRIVATE KEY");
    const tls = withDecryptedKey({ ca: certs.ca, cert: certs.clientCert, key: encrypted, passphrase: "correct horse" });
    expect(tls).not.toHaveProperty("passphrase");
    const pem = String(tls.key);
    expect(pem).not.toContain("ENCRYPTED");
    expect(new X509Certificate(certs.clientCert).checkPrivateKey(createPrivateKey(pem))).toBe(true);
  });

  it("tls - options without a passphrase are passed through unchanged", () => {
    const tls = { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey };
    expect(withDecryptedKey(tls)).toBe(tls);
  });
});
