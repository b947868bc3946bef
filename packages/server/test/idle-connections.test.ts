import { connect, type TLSSocket } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makePki, startTestServer, type TestPki, type TestServer } from "./edge-harness.js";

let pki: TestPki;
let ts: TestServer;

beforeAll(async () => {
  pki = makePki(["dev-1", "dev-2"]);
  ts = await startTestServer(pki, {
    edge: {
      port: 0,
      certPem: pki.serverCertPem,
      keyPem: pki.serverKeyPem,
      clientCaPem: pki.caPem,
      authDeadlineMs: 300,
    },
    operator: { port: 0, certPem: pki.serverCertPem, keyPem: pki.serverKeyPem, idleTimeoutMs: 300 },
  });
});

afterAll(async () => {
  await ts?.close();
});

/** Completes a TLS handshake, then sends nothing; resolves when the server closes the connection. */
function silentTls(url: string, identity?: { certPem: string; keyPem: string }): Promise<boolean> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    let established = false;
    const socket: TLSSocket = connect({
      host: "127.0.0.1",
      port: Number(port),
      ca: pki.caPem,
      ...(identity ? { cert: identity.certPem, key: identity.keyPem } : {}),
    });
    socket.on("secureConnect", () => {
      established = true;
    });
    socket.on("error", reject);
    socket.on("close", () => resolve(established));
    socket.resume();
  });
}

describe("connections that never send a request", () => {
  it("the edge closes a TLS connection that never asks for the WebSocket upgrade", async () => {
    expect(await silentTls(ts.server.edgeUrl, pki.devices["dev-1"])).toBe(true);
  }, 10_000);

  it("the operator API closes a TLS connection that never sends a request", async () => {
    expect(await silentTls(ts.server.operatorUrl!)).toBe(true);
  }, 10_000);
});
