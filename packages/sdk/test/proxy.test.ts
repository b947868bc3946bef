import { createServer as createHttpsServer, type Server } from "node:https";
import { type AddressInfo, connect as netConnect, createServer, type Server as NetServer, type Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import { inspect } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocketServer } from "ws";
import { EdgeClient } from "../src/client.js";
import { matchesNoProxy, parseProxy, resolveProxy } from "../src/transport/proxy.js";
import { connectWebSocket } from "../src/transport/ws-transport.js";
import { makeCerts, type TestCerts } from "./helpers/certs.js";

const USER = "device-7";
const PASSWORD = "s3cret:pass@word";

/** What the test proxy saw of one CONNECT request. */
interface Seen {
  target: string;
  authorization: string | undefined;
}

/**
 * A minimal HTTP CONNECT proxy: checks Basic credentials, answers `answer` when set, and pipes
 * every tunnel to the TLS server whatever host was asked for (so a made-up name reaches it).
 */
class TestProxy {
  readonly seen: Seen[] = [];
  answer: string | undefined;
  private readonly server: NetServer;
  private readonly sockets = new Set<Socket>();

  constructor(private readonly upstreamPort: () => number) {
    this.server = createServer((client) => this.serve(client));
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    return (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise((r) => this.server.close(r));
  }

  private serve(client: Socket): void {
    this.sockets.add(client);
    client.on("close", () => this.sockets.delete(client));
    client.on("error", () => {});
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf("\r\n\r\n");
      if (end < 0) return;
      client.removeListener("data", onData);
      const lines = head.subarray(0, end).toString("latin1").split("\r\n");
      const target = lines[0]!.split(" ")[1]!;
      const auth = lines.find((l) => /^proxy-authorization:/i.test(l))?.replace(/^[^:]+:\s*/, "");
      this.seen.push({ target, authorization: auth });
      const expected = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString("base64")}`;
      if (this.answer !== undefined) {
        client.end(`HTTP/1.1 ${this.answer}\r\nContent-Length: 0\r\n\r\n`);
        return;
      }
      if (auth !== expected) {
        client.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="t"\r\n\r\n');
        return;
      }
      const upstream = netConnect(this.upstreamPort(), "127.0.0.1", () => {
        client.write("HTTP/1.1 200 Connection established\r\n\r\n");
        const rest = head.subarray(end + 4);
        if (rest.length > 0) upstream.write(rest);
        client.pipe(upstream).pipe(client);
      });
      this.sockets.add(upstream);
      upstream.on("close", () => this.sockets.delete(upstream));
      upstream.on("error", () => client.destroy());
    };
    client.on("data", onData);
  }
}

let certs: TestCerts;
let server: Server;
let serverPort = 0;
let proxy: TestProxy;
let proxyUrl = "";
const serverNames: (string | false)[] = [];

beforeAll(async () => {
  certs = makeCerts();
  server = createHttpsServer({ key: certs.serverKey, cert: certs.serverCert, minVersion: "TLSv1.2" });
  server.on("secureConnection", (s: TLSSocket) => serverNames.push(s.servername));
  const wss = new WebSocketServer({ server });
  wss.on("connection", (ws) => ws.on("message", (data) => ws.send(data as Buffer, { binary: true })));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  serverPort = (server.address() as AddressInfo).port;
  proxy = new TestProxy(() => serverPort);
  proxyUrl = `http://127.0.0.1:${await proxy.listen()}`;
});

afterAll(async () => {
  await proxy.close();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  certs.cleanup();
});

const tls = () => ({ ca: certs.ca });
const withCredentials = () => ({ url: proxyUrl, username: USER, password: PASSWORD });
const closedPort = async (): Promise<number> => {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
};

describe("proxy - NO_PROXY matching", () => {
  it("proxy - NO_PROXY matches exact hosts, domain suffixes at a label, *, IPs, CIDR and ports", () => {
    const cases: [string, string, number, boolean][] = [
      ["*", "anything.example", 443, true],
      ["example.com", "example.com", 443, true],
      ["example.com", "edge.example.com", 443, true],
      [".example.com", "edge.example.com", 443, true],
      [".example.com", "example.com", 443, true],
      ["example.com", "notexample.com", 443, false],
      ["example.com", "example.com.evil", 443, false],
      ["EXAMPLE.com", "Edge.Example.COM", 443, true],
      ["a.test, b.test", "b.test", 443, true],
      ["a.test b.test", "b.test", 443, true],
      ["example.com:8443", "example.com", 8443, true],
      ["example.com:8443", "example.com", 443, false],
      ["10.0.0.0/8", "10.1.2.3", 443, true],
      ["10.0.0.0/8", "11.1.2.3", 443, false],
      ["192.168.1.7", "192.168.1.7", 443, true],
      ["192.168.1.7", "192.168.1.70", 443, false],
      ["::1", "::1", 443, true],
      ["::1", "[::1]", 443, true],
      ["[::1]:8443", "::1", 8443, true],
      ["fd00::/8", "fd12::5", 443, true],
      ["localhost", "127.0.0.1", 443, false],
      ["", "example.com", 443, false],
      [",,", "example.com", 443, false],
    ];
    for (const [list, host, port, expected] of cases) {
      expect(matchesNoProxy(list, host, port), `${JSON.stringify(list)} vs ${host}:${port}`).toBe(expected);
    }
  });

  it("proxy - the environment's proxy is used unless NO_PROXY exempts the host; false connects directly", () => {
    const env = { HTTPS_PROXY: "proxy.lan:3128", NO_PROXY: "localhost,.internal" };
    expect(resolveProxy(undefined, "edge.example.com", 443, env)?.label).toBe("http://proxy.lan:3128");
    expect(resolveProxy(undefined, "edge.internal", 443, env)).toBeUndefined();
    expect(resolveProxy(undefined, "localhost", 443, env)).toBeUndefined();
    expect(resolveProxy(undefined, "127.0.0.1", 443, env)?.label).toBe("http://proxy.lan:3128");
    expect(resolveProxy(undefined, "x", 443, { https_proxy: "http://a:1", HTTPS_PROXY: "http://b:2" })?.label).toBe(
      "http://a:1",
    );
    expect(resolveProxy(false, "x", 443, env)).toBeUndefined();
    expect(resolveProxy(undefined, "x", 443, {})).toBeUndefined();
    // An explicit proxy ignores the environment's NO_PROXY and uses its own list.
    expect(resolveProxy({ url: "http://p:1" }, "edge.internal", 443, env)?.label).toBe("http://p:1");
    expect(resolveProxy({ url: "http://p:1", noProxy: "internal" }, "edge.internal", 443, env)).toBeUndefined();
  });
});

describe("proxy - settings", () => {
  it("proxy - credentials come from the url (percent-decoded) or the fields; the label never holds them", () => {
    const fromUrl = parseProxy(`http://${USER}:${encodeURIComponent(PASSWORD)}@proxy.lan:3128`);
    const fromFields = parseProxy({ url: "http://proxy.lan:3128", username: USER, password: PASSWORD });
    const basic = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString("base64")}`;
    expect(fromUrl.authorization).toBe(basic);
    expect(fromFields.authorization).toBe(basic);
    expect(fromUrl.label).toBe("http://proxy.lan:3128");
    expect(parseProxy("proxy.lan").port).toBe(1080);
    expect(parseProxy("http://[fd00::1]:8080").label).toBe("http://[fd00::1]:8080");
  });

  it("proxy - a bad proxy setting is OUTPOST_INVALID_CONFIG when the client is made, without the password", () => {
    for (const bad of ["https://proxy.lan:3128", "socks5://proxy.lan:1080", "http://proxy.lan:3128/path", ""]) {
      expect(() => parseProxy(bad), bad).toThrow(expect.objectContaining({ code: "OUTPOST_INVALID_CONFIG" }));
    }
    let err: unknown;
    try {
      new EdgeClient({ url: "wss://x/", appKey: "opk_x", tls: tls(), proxy: `https://u:${PASSWORD}@p:1` });
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: "OUTPOST_INVALID_CONFIG" });
    expect(String(err)).not.toContain(PASSWORD);
  });
});

describe("proxy - CONNECT tunnel", () => {
  it("proxy - connects through the tunnel with Basic credentials; TLS inside it uses the server's name", async () => {
    const before = proxy.seen.length;
    const t = await connectWebSocket(`wss://localhost:${serverPort}/edge`, {
      tls: tls(),
      proxy: withCredentials(),
      pingIntervalMs: 0,
    });
    t.send(new Uint8Array([7, 8]));
    for await (const f of t.frames) {
      expect([...f]).toEqual([7, 8]);
      break;
    }
    await t.close();
    expect(proxy.seen.slice(before)).toEqual([
      {
        target: `localhost:${serverPort}`,
        authorization: `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString("base64")}`,
      },
    ]);
    expect(serverNames.at(-1)).toBe("localhost");
  });

  it("transport - a direct connection sends the server's name as SNI too", async () => {
    const before = proxy.seen.length;
    const t = await connectWebSocket(`wss://localhost:${serverPort}/edge`, {
      tls: tls(),
      proxy: false,
      pingIntervalMs: 0,
    });
    await t.close();
    expect(proxy.seen.length).toBe(before);
    expect(serverNames.at(-1)).toBe("localhost");
  });

  it("proxy - the certificate is checked against the server's name, not the proxy's address", async () => {
    // The proxy is 127.0.0.1, which the server certificate names; the server's name is not in it.
    const err = await connectWebSocket(`wss://edge.invalid:${serverPort}/edge`, {
      tls: tls(),
      proxy: withCredentials(),
      pingIntervalMs: 0,
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "OUTPOST_TLS" });
    expect(proxy.seen.at(-1)?.target).toBe(`edge.invalid:${serverPort}`);
  });

  it("proxy - wrong credentials (407) are OUTPOST_PROXY_AUTH saying so; the password is in no message", async () => {
    const err = await connectWebSocket(`wss://localhost:${serverPort}/edge`, {
      tls: tls(),
      proxy: { ...withCredentials(), password: "wrong-password" },
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "OUTPOST_PROXY_AUTH", status: 407 });
    expect((err as Error).message).toContain("refused the credentials");
    expect((err as Error).message).toContain(proxyUrl);
    expect(inspect(err)).not.toContain("wrong-password");
    const none = await connectWebSocket(`wss://localhost:${serverPort}/edge`, { tls: tls(), proxy: proxyUrl }).catch(
      (e: unknown) => e,
    );
    expect(none).toMatchObject({
      code: "OUTPOST_PROXY_AUTH",
      message: expect.stringContaining("requires authentication"),
    });
  });

  it("proxy - 403 is OUTPOST_INVALID_CONFIG naming the destination, 502 is OUTPOST_UNAVAILABLE", async () => {
    const target = `wss://localhost:${serverPort}/edge`;
    try {
      proxy.answer = "403 Forbidden";
      const forbidden = await connectWebSocket(target, { tls: tls(), proxy: withCredentials() }).catch(
        (e: unknown) => e,
      );
      expect(forbidden).toMatchObject({ code: "OUTPOST_INVALID_CONFIG", status: 403 });
      expect((forbidden as Error).message).toContain(`localhost:${serverPort}`);
      proxy.answer = "502 Bad Gateway";
      const gateway = await connectWebSocket(target, { tls: tls(), proxy: withCredentials() }).catch((e: unknown) => e);
      expect(gateway).toMatchObject({ code: "OUTPOST_UNAVAILABLE", status: 502 });
    } finally {
      proxy.answer = undefined;
    }
  });

  it("proxy - an unreachable proxy is OUTPOST_UNAVAILABLE naming the proxy", async () => {
    const dead = `http://127.0.0.1:${await closedPort()}`;
    const err = await connectWebSocket(`wss://localhost:${serverPort}/edge`, {
      tls: tls(),
      proxy: { url: dead, username: USER, password: PASSWORD },
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "OUTPOST_UNAVAILABLE" });
    expect((err as Error).message).toContain(`cannot reach proxy ${dead}`);
    expect((err as Error).message).not.toContain(PASSWORD);
  });

  it("proxy - HTTPS_PROXY from the environment is used, NO_PROXY bypasses it", async () => {
    const env = { HTTPS_PROXY: `http://${USER}:${encodeURIComponent(PASSWORD)}@${proxyUrl.slice(7)}` };
    const before = proxy.seen.length;
    const via = await connectWebSocket(`wss://localhost:${serverPort}/edge`, { tls: tls(), env, pingIntervalMs: 0 });
    await via.close();
    expect(proxy.seen.length).toBe(before + 1);
    const direct = await connectWebSocket(`wss://localhost:${serverPort}/edge`, {
      tls: tls(),
      env: { ...env, NO_PROXY: "localhost" },
      pingIntervalMs: 0,
    });
    await direct.close();
    expect(proxy.seen.length).toBe(before + 1);
  });

  it("proxy - EdgeClient: a 407 before the first connection is final, connect() rejects after one attempt", async () => {
    const before = proxy.seen.length;
    const client = new EdgeClient({
      url: `wss://localhost:${serverPort}/edge`,
      appKey: "opk_test_secret",
      tls: tls(),
      proxy: { ...withCredentials(), password: "wrong-password" },
      reconnect: { initialDelayMs: 1, maxDelayMs: 5 },
      logger: { debug() {}, info() {}, warn() {}, error() {} },
    });
    try {
      await expect(client.connect()).rejects.toMatchObject({ code: "OUTPOST_PROXY_AUTH" });
      await new Promise((r) => setTimeout(r, 100));
      expect(proxy.seen.length - before).toBe(1);
      expect(inspect(client, { depth: 5 })).not.toContain("wrong-password");
    } finally {
      await client.close();
    }
  });
});
