import { connect } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makePki, startTestServer, type TestPki, type TestServer } from "./edge-harness.js";

let pki: TestPki;
let ts: TestServer;

beforeAll(async () => {
  pki = makePki(["dev-1"]);
  ts = await startTestServer(pki);
});
afterAll(async () => {
  await ts?.close();
});

/** The ALPN protocol the edge selects for a client offering `protocols`, or the client's error code. */
function negotiate(protocols?: string[]): Promise<string> {
  const device = pki.devices["dev-1"]!;
  return new Promise((resolve) => {
    const socket = connect({
      host: "127.0.0.1",
      port: Number(new URL(ts.server.edgeUrl).port),
      ca: pki.caPem,
      cert: device.certPem,
      key: device.keyPem,
      servername: "localhost",
      ...(protocols && { ALPNProtocols: protocols }),
    });
    socket.once("secureConnect", () => {
      resolve(String(socket.alpnProtocol));
      socket.destroy();
    });
    socket.once("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

describe("edge ALPN", () => {
  it("edge - selects http/1.1 when offered, none when the client offers nothing", async () => {
    expect(await negotiate(["h2", "http/1.1"])).toBe("http/1.1");
    expect(await negotiate(["http/1.1"])).toBe("http/1.1");
    expect(await negotiate()).toBe("false");
  });

  it("edge - a client offering only other protocols gets the no_application_protocol alert", async () => {
    expect(await negotiate(["h2"])).toBe("ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL");
  });
});
