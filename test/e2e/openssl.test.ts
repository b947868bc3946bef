import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DeviceBundle, ServerProcess } from "../helpers/server-process.js";

/** Runs `openssl s_client` against the edge port with stdin closed and returns its output. */
function sClient(port: number, args: string[], input = ""): { status: number | null; out: string } {
  const r = spawnSync("openssl", ["s_client", "-connect", `127.0.0.1:${port}`, "-servername", "localhost", ...args], {
    input,
    encoding: "utf8",
    timeout: 20_000,
  });
  return { status: r.status, out: `${r.stdout}\n${r.stderr}` };
}

describe("tls policy - checked with openssl s_client", () => {
  let server: ServerProcess;
  let bundle: DeviceBundle;
  let certFile: string;
  let keyFile: string;

  /** Trust the server's CA and present the onboarded device certificate. */
  const deviceIdentity = () => ["-CAfile", server.caPath, "-cert", certFile, "-key", keyFile];

  beforeAll(async () => {
    server = ServerProcess.init();
    bundle = server.addDevice("dev-openssl", ["x-1"]);
    certFile = join(bundle.dir, "device.pem");
    keyFile = join(bundle.dir, "device.key");
    writeFileSync(join(bundle.dir, "probe.txt"), "");
    await server.start();
  });

  afterAll(async () => {
    await server?.dispose();
  });

  it("tls policy - a client with a valid device certificate completes the handshake (control)", () => {
    const r = sClient(server.edgePort, [...deviceIdentity(), "-verify_return_error"]);
    expect(r.out).toMatch(/Verify return code: 0 \(ok\)/);
    expect(r.out).not.toMatch(/alert/i);
    expect(r.out).toMatch(/New, TLSv1\.3, Cipher is TLS_/);
  });

  for (const version of ["-tls1", "-tls1_1"]) {
    it(`tls policy - ${version} is refused`, () => {
      const r = sClient(server.edgePort, [version, "-cipher", "DEFAULT@SECLEVEL=0", ...deviceIdentity()]);
      expect(r.status).not.toBe(0);
      expect(r.out).toMatch(/alert protocol version/i);
      expect(r.out).toMatch(/New, \(NONE\), Cipher is \(NONE\)/);
    });
  }

  it("tls policy - a TLS 1.2 client without a certificate is refused", () => {
    const r = sClient(server.edgePort, ["-tls1_2", "-CAfile", server.caPath]);
    expect(r.status).not.toBe(0);
    expect(r.out).toMatch(/alert handshake failure|certificate required|peer did not return a certificate/i);
  });

  it("tls policy - a TLS 1.3 client without a certificate is refused", () => {
    // In TLS 1.3 the server judges the client's certificate after the client's Finished, so the
    // client must send something and keep reading to see the refusal.
    const r = sClient(server.edgePort, ["-tls1_3", "-CAfile", server.caPath, "-ign_eof"], "GET / HTTP/1.1\r\n\r\n");
    expect(r.out).toMatch(/alert certificate required/i);
    expect(r.out).not.toMatch(/HTTP\/1\.1/);
  });

  it("tls policy - a TLS 1.2 cipher without forward secrecy is refused", () => {
    const r = sClient(server.edgePort, ["-tls1_2", "-cipher", "AES128-GCM-SHA256", ...deviceIdentity()]);
    expect(r.status).not.toBe(0);
    expect(r.out).toMatch(/alert handshake failure|no shared cipher/i);
  });
});
