import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** PEM material for a TLS test: a CA, a server certificate for 127.0.0.1 and localhost, a client certificate, and a foreign CA. */
export interface TestCerts {
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  otherCa: string;
  cleanup(): void;
}

/** Generates fresh certificates with the openssl command line in a temporary directory. */
export function makeCerts(): TestCerts {
  const dir = mkdtempSync(join(tmpdir(), "outpost-sdk-tls-"));
  const ssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  const key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  ssl("req", "-x509", ...key, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=Outpost Test CA");
  ssl("req", "-x509", ...key, "-keyout", "other.key", "-out", "other.pem", "-days", "2", "-subj", "/CN=Other CA");
  writeFileSync(join(dir, "server.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n");
  writeFileSync(join(dir, "client.ext"), "extendedKeyUsage=clientAuth\n");
  for (const [name, cn] of [
    ["server", "127.0.0.1"],
    ["client", "dev-1"],
  ] as const) {
    ssl("req", ...key, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${cn}`);
    ssl(
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-days",
      "2",
      "-extfile",
      `${name}.ext`,
      "-out",
      `${name}.pem`,
    );
  }
  const read = (f: string) => readFileSync(join(dir, f), "utf8");
  return {
    ca: read("ca.pem"),
    serverCert: read("server.pem"),
    serverKey: read("server.key"),
    clientCert: read("client.pem"),
    clientKey: read("client.key"),
    otherCa: read("other.pem"),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
