import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type WebSocket, WebSocketServer } from "ws";
import { connectWebSocket, type WebSocketTransport } from "../src/transport/ws-transport.js";
import { makeCerts, type TestCerts } from "./helpers/certs.js";

let certs: TestCerts;
let server: Server;
let wss: WebSocketServer;
let url: string;
const serverSockets: WebSocket[] = [];

beforeAll(async () => {
  certs = makeCerts();
  server = createServer({ key: certs.serverKey, cert: certs.serverCert, ca: certs.ca, requestCert: true });
  wss = new WebSocketServer({ server });
  wss.on("connection", (ws) => serverSockets.push(ws));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `wss://127.0.0.1:${(server.address() as AddressInfo).port}/edge`;
});

afterAll(async () => {
  for (const c of wss.clients) c.terminate();
  wss.close();
  await new Promise((r) => server.close(r));
  certs.cleanup();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("WebSocket transport receive buffer", () => {
  it("transport - a reader that falls behind pauses the socket, so unread bytes stay bounded by bytes", async () => {
    const highWater = 1024 * 1024;
    const transport = (await connectWebSocket(url, {
      tls: { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey },
      pingIntervalMs: 0,
      receiveHighWaterBytes: highWater,
    })) as WebSocketTransport;
    for (let i = 0; i < 50 && serverSockets.length === 0; i++) await sleep(10);
    const peer = serverSockets[0]!;
    const frame = new Uint8Array(128 * 1024);
    const total = 32 * 1024 * 1024;
    for (let sent = 0; sent < total; sent += frame.byteLength) peer.send(frame);
    // Nothing reads the transport's frames: the socket must stop taking data off the network.
    let maxUnread = 0;
    for (let i = 0; i < 40; i++) {
      await sleep(25);
      maxUnread = Math.max(maxUnread, transport.frames.bufferedBytes);
    }
    expect(maxUnread).toBeGreaterThan(0);
    expect(maxUnread).toBeLessThanOrEqual(highWater + frame.byteLength);
    expect(peer.bufferedAmount).toBeGreaterThan(0);
    // Reading resumes the socket and every byte arrives.
    let received = 0;
    for await (const f of transport.frames) {
      received += f.byteLength;
      if (received >= total) break;
    }
    expect(received).toBe(total);
    await transport.close();
  });
});
