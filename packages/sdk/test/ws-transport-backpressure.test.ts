import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocketServer } from "ws";
import { connectWebSocket } from "../src/transport/ws-transport.js";
import { makeCerts, type TestCerts } from "./helpers/certs.js";

let certs: TestCerts;
let server: Server;
let wss: WebSocketServer;
let url: string;

beforeAll(async () => {
  certs = makeCerts();
  server = createServer({ key: certs.serverKey, cert: certs.serverCert, ca: certs.ca, requestCert: true });
  wss = new WebSocketServer({ server });
  // A server that stops reading: nothing the device sends is taken off the socket.
  wss.on("connection", (_ws, req) => req.socket.pause());
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `wss://127.0.0.1:${(server.address() as AddressInfo).port}/edge`;
});

afterAll(async () => {
  for (const c of wss.clients) c.terminate();
  wss.close();
  await new Promise((r) => server.close(r));
  certs.cleanup();
});

describe("WebSocket transport send buffer", () => {
  it("transport - a server that stops reading is disconnected once maxBufferedBytes are unsent", async () => {
    const transport = await connectWebSocket(url, {
      tls: { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey },
      maxBufferedBytes: 1024 * 1024,
      pingIntervalMs: 0,
    });
    const frame = new Uint8Array(256 * 1024);
    let refused: unknown;
    for (let i = 0; i < 4096 && refused === undefined; i++) {
      try {
        transport.send(frame);
      } catch (err) {
        refused = err;
      }
      // Let the socket write what the kernel takes, as a real application would between sends.
      if (i % 16 === 0) await new Promise((r) => setImmediate(r));
    }
    expect(refused).toMatchObject({ code: "OUTPOST_CONNECTION_CLOSED", cause: { code: "OUTPOST_LIMIT_EXCEEDED" } });
    expect(transport.bufferedBytes).toBeLessThanOrEqual(1024 * 1024 + frame.byteLength);
    await expect(transport.closed()).resolves.toMatchObject({ code: "OUTPOST_LIMIT_EXCEEDED" });
  });
});
