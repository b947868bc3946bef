import { createServer, type Server } from "node:net";
import { ErrorCode, isOutpostError } from "@outpost/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectWebSocket } from "../src/transport/ws-transport.js";
import { makeCerts, type TestCerts } from "./helpers/certs.js";

let certs: TestCerts;
let server: Server;
let port = 0;
const sources: (string | undefined)[] = [];
const firstBytes: number[] = [];

beforeAll(async () => {
  certs = makeCerts();
  // A TCP server that never speaks TLS: it records who connected and what came first, then hangs up.
  server = createServer((socket) => {
    sources.push(socket.remoteAddress);
    socket.once("data", (chunk) => {
      firstBytes.push(chunk[0]!);
      socket.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as { port: number }).port;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  certs?.cleanup();
});

const tls = () => ({ ca: certs.ca, cert: certs.clientCert, key: certs.clientKey });

describe("WebSocket transport, TCP before TLS", () => {
  it("transport - connects from the configured local address and then sends the TLS ClientHello", async () => {
    const err = await connectWebSocket(`wss://127.0.0.1:${port}`, {
      tls: tls(),
      localAddress: "127.0.0.2",
      pingIntervalMs: 0,
      connectTimeoutMs: 5_000,
    }).catch((e: unknown) => e);
    expect(isOutpostError(err)).toBe(true);
    expect(sources.at(-1)).toBe("127.0.0.2");
    expect(firstBytes.at(-1)).toBe(0x16); // a TLS handshake record
  });

  it("transport - a refused TCP connection is OUTPOST_UNAVAILABLE naming the server", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const freePort = (closed.address() as { port: number }).port;
    await new Promise((resolve) => closed.close(resolve));
    const err = await connectWebSocket(`wss://127.0.0.1:${freePort}`, { tls: tls(), pingIntervalMs: 0 }).catch(
      (e: unknown) => e,
    );
    expect(isOutpostError(err, ErrorCode.Unavailable)).toBe(true);
    expect(String((err as Error).message)).toMatch(/cannot reach wss:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED/);
  });
});
