import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { connectDevice, makePki, startTestServer, type TestPki, type TestServer } from "./edge-harness.js";

let pki: TestPki;
let ts: TestServer;

beforeAll(async () => {
  pki = makePki(["dev-1"]);
  ts = await startTestServer(pki, {
    edge: { port: 0, certPem: pki.serverCertPem, keyPem: pki.serverKeyPem, clientCaPem: pki.caPem, pingIntervalMs: 50 },
    operator: false,
  });
});

afterAll(async () => {
  await ts?.close();
});

describe("edge liveness", () => {
  it("edge - a peer that never answers WebSocket pings is disconnected", async () => {
    const ws = new WebSocket(ts.server.edgeUrl, {
      ca: pki.caPem,
      cert: pki.devices["dev-1"]!.certPem,
      key: pki.devices["dev-1"]!.keyPem,
      autoPong: false,
    });
    let pings = 0;
    ws.on("ping", () => pings++);
    const code = await new Promise<number>((resolve, reject) => {
      ws.once("error", reject);
      ws.once("close", (c) => resolve(c));
    });
    expect(pings).toBeGreaterThanOrEqual(1);
    expect(code).toBe(1006);
  });

  it("edge - a peer that answers pings stays connected across several ping intervals", async () => {
    const device = await connectDevice(ts.server.edgeUrl, pki.caPem, pki.devices["dev-1"]);
    let pings = 0;
    await new Promise<void>((resolve) => {
      device.ws.on("ping", () => {
        pings++;
        if (pings === 4) resolve();
      });
    });
    expect(device.ws.readyState).toBe(WebSocket.OPEN);
    await device.close();
  });
});
