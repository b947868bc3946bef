import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expiredDeviceCert, otherCaDeviceCert } from "../helpers/certs.js";
import { ServerProcess } from "../helpers/server-process.js";
import { waitUntil } from "../helpers/wait.js";

const GOOD_EXT =
  "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n";

/**
 * `openssl s_client` over TLS 1.3 presenting a client certificate. The server judges the
 * certificate after the client's Finished, so the client sends a request and keeps reading until
 * the alert (or an answer) arrives.
 */
function sClient(port: number, caPath: string, args: string[]): string {
  const r = spawnSync(
    "openssl",
    ["s_client", "-connect", `127.0.0.1:${port}`, "-servername", "localhost", "-CAfile", caPath, "-tls1_3"].concat([
      "-ign_eof",
      ...args,
    ]),
    { input: "GET / HTTP/1.1\r\nhost: x\r\n\r\n", encoding: "utf8", timeout: 20_000 },
  );
  return `${r.stdout}\n${r.stderr}`;
}

describe("certificate policy and refusal alerts - checked with the openssl CLI", () => {
  let server: ServerProcess;
  let dir: string;
  const openssl = (args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  const caCert = () => join(server.dataDir, "ca", "ca.pem");
  const caKey = () => join(server.dataDir, "ca", "ca.key");

  /** A device certificate made with openssl and signed by `issuer` (default: the server's CA). */
  function leaf(name: string, keyArgs: string[], ext: string | undefined, issuer?: { cert: string; key: string }) {
    openssl([
      "req",
      "-new",
      "-nodes",
      ...keyArgs,
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.csr`,
      "-subj",
      "/CN=dev-cli",
    ]);
    const extArgs = ext === undefined ? [] : ["-extfile", `${name}.ext`];
    if (ext !== undefined) writeFileSync(join(dir, `${name}.ext`), ext);
    openssl(
      ["x509", "-req", "-in", `${name}.csr`, "-CA", issuer?.cert ?? caCert(), "-CAkey", issuer?.key ?? caKey()].concat([
        "-CAcreateserial",
        "-days",
        "30",
        "-sha256",
        "-out",
        `${name}.pem`,
        ...extArgs,
      ]),
    );
    return { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
  }

  const tlsRefusals = () =>
    server.auditRecords().filter((r) => r.type === "login.failure" && r.code === "OUTPOST_TLS") as Array<{
      source?: string;
      details?: { reason?: string; detail?: string };
    }>;
  async function lastRefusal(count: number) {
    await waitUntil("audit record of the refused handshake", () => tlsRefusals().length > count);
    return tlsRefusals().at(-1)!;
  }

  beforeAll(async () => {
    server = ServerProcess.init();
    server.addDevice("dev-cli", ["cli-1"]);
    dir = mkdtempSync(join(tmpdir(), "outpost-openssl-certs-"));
    await server.start();
  });

  afterAll(async () => {
    await server?.dispose();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("tls policy - an openssl-made certificate that meets the policy completes the handshake (control)", () => {
    const good = leaf("good", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"], GOOD_EXT);
    const out = sClient(server.edgePort, server.caPath, ["-cert", good.cert, "-key", good.key]);
    expect(out).toMatch(/HTTP\/1\.1 426/);
    expect(out).not.toMatch(/alert/i);
  });

  const refused: Array<[string, () => { cert: string; key: string; extra?: string[] }, RegExp]> = [
    [
      "an RSA-1024 key",
      () => ({ ...leaf("rsa1024", ["-newkey", "rsa:1024"], GOOD_EXT), extra: ["-cipher", "DEFAULT@SECLEVEL=0"] }),
      /RSA key of 1024 bits/,
    ],
    [
      "CA:TRUE",
      () => leaf("ca-true", ["-newkey", "rsa:2048"], GOOD_EXT.replace("CA:FALSE", "CA:TRUE")),
      /CA certificate/,
    ],
    ["no extensions", () => leaf("no-ext", ["-newkey", "rsa:2048"], undefined), /no keyUsage/],
    [
      "a leaf signed by a CA:TRUE intermediate",
      () => {
        const mid = leaf(
          "mid",
          ["-newkey", "rsa:2048"],
          "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\n",
        );
        const l = leaf("under-mid", ["-newkey", "rsa:2048"], GOOD_EXT, mid);
        return { ...l, extra: ["-cert_chain", mid.cert] };
      },
      /not issued directly by the device CA/,
    ],
  ];
  for (const [what, make, detail] of refused) {
    it(`tls policy - a certificate with ${what} gets the unsupported_certificate alert and a policy audit record`, async () => {
      const before = tlsRefusals().length;
      const c = make();
      const out = sClient(server.edgePort, server.caPath, ["-cert", c.cert, "-key", c.key, ...(c.extra ?? [])]);
      expect(out).toMatch(/alert unsupported certificate/i);
      expect(out).not.toMatch(/HTTP\/1\.1/);
      const record = await lastRefusal(before);
      expect(record.source).toBe("127.0.0.1");
      expect(record.details?.reason).toBe("policy");
      expect(record.details?.detail).toMatch(detail);
    });
  }

  it("tls policy - device add --csr refuses an RSA-1024 request made with openssl, with a clear error", () => {
    openssl([
      "req",
      "-new",
      "-nodes",
      "-newkey",
      "rsa:1024",
      "-keyout",
      "weak.key",
      "-out",
      "weak.csr",
      "-subj",
      "/CN=dev-weak",
    ]);
    const r = spawnSync(
      process.execPath,
      [join("packages", "server", "dist", "cli", "main.js"), "device", "add", "dev-weak"].concat([
        "--data",
        server.dataDir,
        "--csr",
        join(dir, "weak.csr"),
        "--out",
        join(dir, "weak-bundle"),
      ]),
      { encoding: "utf8" },
    );
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/certificate policy: RSA key of 1024 bits; at least 2048 .*\(OUTPOST_TLS\)/);
  });

  it("tls refusal - a certificate from another CA gets the unknown_ca alert; the audit says unknown-ca", async () => {
    const before = tlsRefusals().length;
    const foreign = otherCaDeviceCert("dev-cli");
    writeFileSync(join(dir, "foreign.pem"), foreign.cert);
    writeFileSync(join(dir, "foreign.key"), foreign.key);
    const out = sClient(server.edgePort, server.caPath, [
      "-cert",
      join(dir, "foreign.pem"),
      "-key",
      join(dir, "foreign.key"),
    ]);
    expect(out).toMatch(/alert unknown ca/i);
    expect((await lastRefusal(before)).details?.reason).toBe("unknown-ca");
  });

  it("tls refusal - an expired certificate gets the certificate_expired alert; the audit says expired", async () => {
    const before = tlsRefusals().length;
    const expired = expiredDeviceCert(server.dataDir, "dev-cli");
    writeFileSync(join(dir, "expired.pem"), expired.cert);
    writeFileSync(join(dir, "expired.key"), expired.key);
    const out = sClient(server.edgePort, server.caPath, [
      "-cert",
      join(dir, "expired.pem"),
      "-key",
      join(dir, "expired.key"),
    ]);
    expect(out).toMatch(/alert certificate expired/i);
    expect((await lastRefusal(before)).details?.reason).toBe("expired");
  });

  it("tls refusal - after device revoke the running server refuses its certificate with certificate_revoked", async () => {
    const bundle = server.addDevice("dev-gone", ["gone-1"]);
    const identity = ["-cert", join(bundle.dir, "device.pem"), "-key", join(bundle.dir, "device.key")];
    expect(sClient(server.edgePort, server.caPath, identity)).toMatch(/HTTP\/1\.1 426/);
    server.cli(["device", "revoke", "dev-gone"]);
    const before = tlsRefusals().length;
    const out = sClient(server.edgePort, server.caPath, identity);
    expect(out).toMatch(/alert certificate revoked/i);
    expect((await lastRefusal(before)).details?.reason).toBe("revoked");
  });
});
