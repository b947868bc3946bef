import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import type { TLSSocket } from "node:tls";
import type { Transport } from "@outpost/protocol";
import { AsyncQueue } from "@outpost/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type WebSocket, WebSocketServer } from "ws";
import { EdgeClient } from "../src/client.js";
import { spkiPin } from "../src/transport/tls.js";
import { connectWebSocket } from "../src/transport/ws-transport.js";
import { makeCerts, type TestCerts } from "./helpers/certs.js";
import { FakeServer } from "./helpers/fake-server.js";

let certs: TestCerts;
let server: Server;
let wss: WebSocketServer;
let url: string;
const clientNames: string[] = [];
const fake = new FakeServer();

/** The server end of a real socket as a Transport, so the fake server's Channel runs over TLS. */
function serverTransport(ws: WebSocket): Transport {
  const frames = new AsyncQueue<Uint8Array>();
  const done = new Promise<Error | undefined>((resolve) =>
    ws.on("close", () => {
      frames.end();
      resolve(undefined);
    }),
  );
  ws.on("message", (data) => frames.push(data as Buffer));
  return {
    frames,
    bufferedBytes: 0,
    drain: () => Promise.resolve(),
    send: (frame) => ws.send(frame, { binary: true }),
    close: async () => {
      ws.close();
      await done;
    },
    closed: () => done,
  };
}

let missingRequests = 0;

beforeAll(async () => {
  certs = makeCerts();
  server = createServer({
    key: certs.serverKey,
    cert: certs.serverCert,
    ca: certs.ca,
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: "TLSv1.2",
  });
  wss = new WebSocketServer({
    server,
    verifyClient: (info, cb) => {
      if (info.req.url === "/missing") missingRequests++;
      if (info.req.url === "/missing") cb(false, 404, "Not Found");
      else if (info.req.url === "/forbidden") cb(false, 403, "Forbidden");
      else cb(true);
    },
  });
  wss.on("connection", (ws, req) => {
    if (req.url === "/fake") {
      fake.accept(serverTransport(ws), req.url);
      return;
    }
    clientNames.push((req.socket as TLSSocket).getPeerCertificate().subject.CN as string);
    ws.on("message", (data, isBinary) => {
      if (String(data) === "text please") ws.send("hello", { binary: false });
      else ws.send(data as Buffer, { binary: isBinary });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `wss://127.0.0.1:${(server.address() as AddressInfo).port}/edge`;
});

afterAll(async () => {
  for (const c of wss.clients) c.terminate();
  wss.close();
  await new Promise((r) => server.close(r));
  certs.cleanup();
});

const identity = () => ({ ca: certs.ca, cert: certs.clientCert, key: certs.clientKey });

async function firstFrame(frames: AsyncIterable<Uint8Array>): Promise<Uint8Array | undefined> {
  for await (const f of frames) return f;
  return undefined;
}

describe("WebSocket transport over TLS", () => {
  it("tls - connects with the right CA and a client certificate, frames round-trip", async () => {
    const t = await connectWebSocket(url, { tls: identity(), pingIntervalMs: 0 });
    t.send(new Uint8Array([1, 2, 3]));
    expect([...((await firstFrame(t.frames)) ?? [])]).toEqual([1, 2, 3]);
    expect(clientNames.at(-1)).toBe("dev-1");
    await t.close();
    expect(await t.closed()).toBeUndefined();
  });

  it("tls - a server certificate from an untrusted CA is refused with OUTPOST_TLS", async () => {
    await expect(connectWebSocket(url, { tls: { ...identity(), ca: certs.otherCa } })).rejects.toMatchObject({
      code: "OUTPOST_TLS",
    });
  });

  it("tls - a pin mismatch is refused with OUTPOST_TLS, the right pin connects", async () => {
    const wrong = spkiPin(certs.otherCa);
    await expect(connectWebSocket(url, { tls: { ...identity(), pins: [wrong] } })).rejects.toMatchObject({
      code: "OUTPOST_TLS",
      message: expect.stringContaining("pin"),
    });
    const t = await connectWebSocket(url, { tls: { ...identity(), pins: [wrong, spkiPin(certs.serverCert)] } });
    await t.close();
  });

  it("tls - insecureSkipVerify accepts an untrusted server and warns", async () => {
    const warnings: string[] = [];
    const logger = { debug() {}, info() {}, error() {}, warn: (m: string) => void warnings.push(m) };
    const t = await connectWebSocket(url, {
      tls: { ...identity(), ca: certs.otherCa, insecureSkipVerify: true },
      logger,
    });
    await t.close();
    expect(warnings.join(" ")).toMatch(/DISABLED/);
  });

  it("handshake - an HTTP 403 upgrade refusal is OUTPOST_FORBIDDEN", async () => {
    await expect(connectWebSocket(url.replace("/edge", "/forbidden"), { tls: identity() })).rejects.toMatchObject({
      code: "OUTPOST_FORBIDDEN",
    });
  });

  it("handshake - an HTTP 404 upgrade refusal (wrong url) is OUTPOST_INVALID_CONFIG naming the url", async () => {
    const wrong = url.replace("/edge", "/missing");
    const err = await connectWebSocket(wrong, { tls: identity() }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "OUTPOST_INVALID_CONFIG", status: 404 });
    expect(String((err as Error).message)).toContain(wrong);
  });

  it("frames - a text message from the server closes the transport with OUTPOST_UNEXPECTED_FRAME", async () => {
    const t = await connectWebSocket(url, { tls: identity(), pingIntervalMs: 0 });
    t.send(new TextEncoder().encode("text please"));
    expect(await firstFrame(t.frames)).toBeUndefined();
    expect(await t.closed()).toMatchObject({ code: "OUTPOST_UNEXPECTED_FRAME" });
  });

  it("config - a non-wss url is OUTPOST_INVALID_CONFIG, an unreachable port is OUTPOST_UNAVAILABLE", async () => {
    await expect(connectWebSocket("ws://127.0.0.1:1", { tls: identity() })).rejects.toMatchObject({
      code: "OUTPOST_INVALID_CONFIG",
    });
    await expect(connectWebSocket("wss://127.0.0.1:1/", { tls: identity() })).rejects.toMatchObject({
      code: "OUTPOST_UNAVAILABLE",
    });
  });

  it("connect - an aborted signal cancels with OUTPOST_ABORTED", async () => {
    const ac = new AbortController();
    const p = connectWebSocket(url, { tls: identity(), signal: ac.signal });
    ac.abort();
    await expect(p).rejects.toMatchObject({ code: "OUTPOST_ABORTED" });
  });
});

describe("EdgeClient over real TLS", () => {
  it("client - a wrong url (HTTP 404 on upgrade) is not retried: connect() rejects after one attempt", async () => {
    const before = missingRequests;
    const client = new EdgeClient({
      url: url.replace("/edge", "/missing"),
      appKey: "opk_test_secret",
      tls: identity(),
      reconnect: { initialDelayMs: 1, maxDelayMs: 5 },
    });
    try {
      await expect(client.connect()).rejects.toMatchObject({ code: "OUTPOST_INVALID_CONFIG" });
      await new Promise((r) => setTimeout(r, 100));
      expect(missingRequests - before).toBe(1);
    } finally {
      await client.close();
    }
  });

  it("client - connects, binds, delivers a value and answers a server read over wss", async () => {
    const client = new EdgeClient({
      url: url.replace("/edge", "/fake"),
      appKey: "opk_test_secret",
      tls: { ...identity(), pins: [spkiPin(certs.serverCert)] },
      reconnect: false,
      flushIntervalMs: 1,
    });
    try {
      const t = client.thing("pump");
      await client.connect();
      t.set("rpm", 42);
      await client.flush();
      expect(fake.updates.map((u) => u.value?.intValue)).toEqual([42]);
      const read = await fake.last.channel.request({ propertyRead: { thing: "pump", names: ["rpm"] } });
      expect(read.response?.values?.[0]?.value?.intValue).toBe(42);
    } finally {
      await client.close();
    }
    expect(client.status.type).toBe("closed");
  });
});
