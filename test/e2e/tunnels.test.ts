import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { request as httpRequest, createServer as createHttpServer, type Server as HttpServer } from "node:http";
import { connect, createServer, type Server } from "node:net";
import { join } from "node:path";
import { Duplex } from "node:stream";
import { promisify } from "node:util";
import { OperatorClient, type OperatorTunnel } from "@outpost/operator";
import { ANNOUNCED_STREAM_WINDOWS } from "@outpost/protocol";
import { EdgeClient, silentLogger, type TunnelAuditRecord } from "@outpost/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makePki, startTestServer, type TestPki, type TestServer } from "../../packages/server/test/edge-harness.js";
import { outpostCli } from "../helpers/outpost-cli.js";
import { startSshd, type Sshd } from "../helpers/sshd.js";
import { waitUntil } from "../helpers/wait.js";

const run = promisify(execFile);

let pki: TestPki;
let ts: TestServer;
let sshd: Sshd;
let echo: Server;
let web: HttpServer;
let echoPort = 0;
let webPort = 0;
let dir = "";
let caFile = "";
/** Everything the server relayed, in both directions, as the tap saw it. */
const relayed: Buffer[] = [];
let relayedBytes = 0;
const deviceAudit: TunnelAuditRecord[] = [];
let approval: "yes" | "no" | "never" = "yes";
const devices: EdgeClient[] = [];

function device(id: string, extra: { maxConnections?: number } = {}): EdgeClient {
  const client = new EdgeClient({
    url: ts.server.edgeUrl,
    appKey: ts.keys[id]!,
    tls: { ca: pki.caPem, cert: pki.devices[id]!.certPem, key: pki.devices[id]!.keyPem },
    reconnect: { initialDelayMs: 50, maxDelayMs: 200 },
    logger: silentLogger,
    tunnels: {
      targets: {
        ssh: `127.0.0.1:${sshd.port}`,
        echo: `127.0.0.1:${echoPort}`,
        web: `127.0.0.1:${webPort}`,
        ask: `127.0.0.1:${echoPort}`,
      },
      approve: ({ target }) =>
        target !== "ask" ? true : approval === "never" ? new Promise<boolean>(() => {}) : approval === "yes",
      approvalTimeoutMs: 300,
      limits: { ...(extra.maxConnections !== undefined && { maxConnections: extra.maxConnections }) },
      audit: (r) => deviceAudit.push(r),
    },
  });
  devices.push(client);
  return client;
}

function operator(token = ts.adminToken): OperatorClient {
  return new OperatorClient({ url: ts.server.operatorUrl!, token, ca: pki.caPem });
}

function open(dev: string, target: string, token?: string): Promise<OperatorTunnel> {
  return operator(token).openTunnel({ device: dev, target, deviceCa: pki.caPem });
}

/** Sends `payload` through one tunnel connection to the echo target and returns what came back. */
async function echoThrough(t: OperatorTunnel, payload: Buffer): Promise<Buffer> {
  const server = await t.listen(0);
  const port = (server.address() as { port: number }).port;
  const socket = connect({ port, host: "127.0.0.1", allowHalfOpen: true });
  const chunks: Buffer[] = [];
  socket.on("data", (c: Buffer) => chunks.push(c));
  socket.end(payload);
  await new Promise((r) => socket.once("close", r));
  server.close();
  return Buffer.concat(chunks);
}

beforeAll(async () => {
  pki = makePki(["dev-1", "dev-2"]);
  ts = await startTestServer(pki, {
    tunnels: {
      maxConnectionsPerDevice: 64,
      tap: (_d, chunk) => {
        // Keep at most 8 MiB: enough for the payload test, bounded for the bulk tests.
        if (relayedBytes < 8 * 1024 * 1024) {
          relayed.push(Buffer.from(chunk));
          relayedBytes += chunk.byteLength;
        }
      },
    },
  });
  sshd = await startSshd();
  dir = sshd.dir;
  caFile = join(dir, "device-ca.pem");
  writeFileSync(caFile, pki.caPem);
  echo = createServer({ allowHalfOpen: true }, (s) => {
    s.on("error", () => undefined);
    s.pipe(s);
  });
  await new Promise<void>((r) => echo.listen(0, "127.0.0.1", r));
  echoPort = (echo.address() as { port: number }).port;
  web = createHttpServer((req, res) => {
    const size = Number(new URL(req.url ?? "/", "http://x").searchParams.get("bytes") ?? 1024);
    res.writeHead(200, { "content-length": String(size) });
    const chunk = Buffer.alloc(64 * 1024, 120);
    let left = size;
    const pump = () => {
      while (left > 0) {
        const n = Math.min(left, chunk.length);
        left -= n;
        if (!res.write(chunk.subarray(0, n))) return void res.once("drain", pump);
      }
      res.end();
    };
    pump();
  });
  await new Promise<void>((r) => web.listen(0, "127.0.0.1", r));
  webPort = (web.address() as { port: number }).port;
  const d1 = device("dev-1");
  await d1.connect();
}, 60_000);

afterAll(async () => {
  for (const d of devices) await d.close().catch(() => undefined);
  echo?.close();
  web?.close();
  await sshd?.stop();
  await ts?.close();
});

describe("tunnels - end to end through the reference server", () => {
  it("tunnels - ssh runs a command and scp copies 50 MB through outpost tunnel --local, md5sum equal", async () => {
    const env = {
      PATH: process.env.PATH ?? "",
      OUTPOST_SERVER: ts.server.operatorUrl!,
      OUTPOST_CA: caFile,
      OUTPOST_TOKEN: ts.adminToken,
      OUTPOST_DEVICE_CA: caFile,
      OUTPOST_CONFIG_DIR: dir,
    };
    const cli = spawn(process.execPath, [outpostCli, "tunnel", "dev-1", "ssh", "--local", "0"], {
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    cli.stdout.on("data", (d: Buffer) => (out += d.toString()));
    cli.stderr.on("data", (d: Buffer) => (err += d.toString()));
    try {
      const port = await waitUntil(`the CLI to print its address (${err})`, () => /127\.0\.0\.1:(\d+)/.exec(out)?.[1]);
      const ssh = ["-p", port, ...sshd.clientOptions];
      const hello = await run("ssh", [...ssh, "root@127.0.0.1", "echo tunnel-ok"]);
      expect(hello.stdout.trim()).toBe("tunnel-ok");
      const file = join(dir, "big.bin");
      writeFileSync(file, randomBytes(50 * 1024 * 1024));
      await run("scp", ["-P", port, ...sshd.clientOptions, file, `root@127.0.0.1:${file}.copy`], { timeout: 120_000 });
      const [a, b] = await Promise.all([run("md5sum", [file]), run("md5sum", [`${file}.copy`])]);
      expect(b.stdout.split(" ")[0]).toBe(a.stdout.split(" ")[0]);
      const listed = await run(process.execPath, [outpostCli, "tunnels", "--json"], { env });
      const tunnels = JSON.parse(listed.stdout) as { deviceId: string; target: string; bytesToDevice: number }[];
      expect(
        tunnels.some((t) => t.deviceId === "dev-1" && t.target === "ssh" && t.bytesToDevice > 50 * 1024 * 1024),
      ).toBe(true);
    } finally {
      cli.kill("SIGINT");
      await new Promise((r) => (cli.exitCode !== null ? r(undefined) : cli.once("exit", r)));
    }
    expect(cli.exitCode).toBe(0);
  }, 180_000);

  it("tunnels - ssh and scp through ProxyCommand=outpost tunnel %h ssh --stdio", async () => {
    const env = {
      ...process.env,
      OUTPOST_SERVER: ts.server.operatorUrl!,
      OUTPOST_CA: caFile,
      OUTPOST_TOKEN: ts.adminToken,
      OUTPOST_DEVICE_CA: caFile,
      OUTPOST_CONFIG_DIR: dir,
    };
    const proxy = ["-o", `ProxyCommand=${process.execPath} ${outpostCli} tunnel %h ssh --stdio`];
    const r = await run("ssh", [...proxy, ...sshd.clientOptions, "root@dev-1", "echo via-stdio"], { env });
    expect(r.stdout.trim()).toBe("via-stdio");
    const file = join(dir, "stdio.bin");
    writeFileSync(file, randomBytes(50 * 1024 * 1024));
    await run("scp", [...proxy, ...sshd.clientOptions, file, `root@dev-1:${file}.copy`], { env, timeout: 120_000 });
    const [a, b] = await Promise.all([run("md5sum", [file]), run("md5sum", [`${file}.copy`])]);
    expect(b.stdout.split(" ")[0]).toBe(a.stdout.split(" ")[0]);
  }, 180_000);

  it("tunnels - the server relays only ciphertext: a known payload never appears in what it relayed", async () => {
    relayed.length = 0;
    relayedBytes = 0;
    const marker = Buffer.from(`outpost-plaintext-marker-${randomBytes(8).toString("hex")}`);
    const payload = Buffer.concat(Array.from({ length: 200 }, () => marker));
    const t = await open("dev-1", "echo");
    try {
      const back = await echoThrough(t, payload);
      expect(back.equals(payload)).toBe(true);
    } finally {
      await t.close();
    }
    const seen = Buffer.concat(relayed);
    expect(seen.byteLength).toBeGreaterThan(payload.byteLength);
    expect(seen.includes(marker)).toBe(false);
    expect(seen.includes(marker.subarray(0, 16))).toBe(false);
  });

  it("tunnels - 20 simultaneous HTTP requests complete while a stalled reader holds its stream, and the relay stays bounded", async () => {
    const t = await open("dev-1", "web");
    try {
      const server = await t.listen(0);
      const port = (server.address() as { port: number }).port;
      // The stalled reader asks for 256 MiB and never takes a byte of the answer: its writes never complete.
      const stalled = new Duplex({
        read() {},
        write(_chunk, _enc, _callback) {
          // never calls back: the tunnel's local end stops reading its stream
        },
      });
      stalled.push("GET /?bytes=268435456 HTTP/1.1\r\nHost: x\r\n\r\n");
      const stalledDone = t.forward(stalled);
      await new Promise((r) => setTimeout(r, 500));
      const get = (i: number) =>
        new Promise<number>((resolve, reject) => {
          const req = httpRequest(
            { host: "127.0.0.1", port, path: `/?bytes=${1024 * 1024 + i}`, agent: false },
            (res) => {
              let n = 0;
              res.on("data", (c: Buffer) => (n += c.byteLength));
              res.on("end", () => resolve(n));
            },
          );
          req.on("error", reject);
          req.end();
        });
      let peak = 0;
      const sampler = setInterval(() => (peak = Math.max(peak, ts.server.tunnels!.bufferedBytes)), 5);
      const sizes = await Promise.all(Array.from({ length: 20 }, (_, i) => get(i)));
      clearInterval(sampler);
      expect(sizes).toEqual(Array.from({ length: 20 }, (_, i) => 1024 * 1024 + i));
      const held = ts.server.tunnels!.bufferedBytes;
      console.log(`relay buffered: peak ${peak} bytes during 20 requests, ${held} with the stalled reader alone`);
      // The stalled stream's receive window at the server plus the operator stream's write high water
      // (64 KiB) plus one relayed chunk (at most a 64 KiB frame).
      expect(held).toBeLessThanOrEqual(ANNOUNCED_STREAM_WINDOWS.streamWindow + 2 * 64 * 1024);
      // Over all streams of the device connection: its connection window, plus the same two bounded
      // slices per stream (21 of them).
      expect(peak).toBeLessThanOrEqual(ANNOUNCED_STREAM_WINDOWS.connectionWindow + 21 * 2 * 64 * 1024);
      stalled.destroy();
      await stalledDone;
      server.close();
    } finally {
      await t.close();
    }
  }, 60_000);

  it("tunnels - refused: a target that is not allow-listed", async () => {
    await expect(open("dev-1", "telnet")).rejects.toMatchObject({
      code: "OUTPOST_FORBIDDEN",
      message: expect.stringContaining("not allowed"),
    });
    expect(
      deviceAudit.some((r) => r.type === "tunnel.refused" && r.target === "telnet" && r.reason === "refused-target"),
    ).toBe(true);
  });

  it("tunnels - refused: an operator without tunnel.open, audited", async () => {
    await expect(open("dev-1", "echo", ts.viewerToken)).rejects.toMatchObject({ code: "OUTPOST_FORBIDDEN" });
    const denied = ts.audit.ofType("denied").filter((r) => r.details?.action === "tunnel.open");
    expect(denied.length).toBeGreaterThan(0);
    ts.registry.grant({ kind: "operator", id: "victor" }, "dev-1", "tunnel.open");
    const t = await open("dev-1", "echo", ts.viewerToken);
    expect((await echoThrough(t, Buffer.from("granted"))).toString()).toBe("granted");
    await t.close();
    ts.registry.revoke({ kind: "operator", id: "victor" }, "dev-1", "tunnel.open");
  });

  it("tunnels - refused: approval denied, and approval timed out, as clear errors", async () => {
    approval = "no";
    await expect(open("dev-1", "ask")).rejects.toMatchObject({
      code: "OUTPOST_FORBIDDEN",
      message: expect.stringContaining("denied"),
    });
    approval = "never";
    await expect(open("dev-1", "ask")).rejects.toMatchObject({
      code: "OUTPOST_TIMEOUT",
      message: expect.stringContaining("approval"),
    });
    approval = "yes";
    const t = await open("dev-1", "ask");
    expect((await echoThrough(t, Buffer.from("approved"))).toString()).toBe("approved");
    await t.close();
  });

  it("tunnels - refused: too many streams for the device", async () => {
    const d2 = device("dev-2", { maxConnections: 1 });
    await d2.connect();
    const t = await open("dev-2", "echo");
    try {
      const server = await t.listen(0);
      const port = (server.address() as { port: number }).port;
      const first = connect({ port, host: "127.0.0.1" });
      first.on("error", () => undefined);
      first.write("hold");
      await new Promise((r) => first.once("data", r));
      const direct = connect({ port: echoPort, host: "127.0.0.1" });
      direct.on("error", () => undefined);
      const second = t.forward(direct);
      const r = await second;
      expect(r.error).toMatchObject({ code: "OUTPOST_TOO_MANY_STREAMS" });
      first.destroy();
      server.close();
    } finally {
      await t.close();
      await d2.close();
    }
  });

  it("tunnels - device disconnect resets the operator's connections cleanly; after reconnect a new tunnel works; audited both sides", async () => {
    const d1 = devices[0]!;
    const t = await open("dev-1", "echo");
    const server = await t.listen(0);
    const port = (server.address() as { port: number }).port;
    const socket = connect({ port, host: "127.0.0.1" });
    socket.on("error", () => undefined);
    socket.write("ping");
    await new Promise((r) => socket.once("data", r));
    const ended = new Promise<Error | undefined>((resolve) => {
      socket.once("error", (e) => resolve(e));
      socket.once("close", () => resolve(undefined));
    });
    expect(ts.server.tunnels!.list("dev-1").length).toBeGreaterThan(0);
    // Cut the device's connection from the server side, as a lost link would.
    await closeDeviceLink("dev-1");
    const err = await ended;
    expect(err === undefined || (err as NodeJS.ErrnoException).code === "ECONNRESET").toBe(true);
    expect(await t.closed()).toMatchObject({ code: "OUTPOST_UNAVAILABLE" });
    await waitUntil("the device to reconnect", () => d1.status.type === "connected");
    const again = await waitUntil("a new tunnel", async () => open("dev-1", "echo"), { timeoutMs: 10_000 });
    expect((await echoThrough(again, Buffer.from("after reconnect"))).toString()).toBe("after reconnect");
    await again.close();
    const ends = ts.audit.ofType("tunnel.session").filter((r) => r.details?.event === "end");
    expect(ends.some((r) => r.details?.reason === "device-disconnected")).toBe(true);
    expect(deviceAudit.some((r) => r.type === "tunnel.end" && r.reason === "disconnected")).toBe(true);
  }, 30_000);
});

/** Closes the device's current connection from the server (the device sees its link drop and reconnects). */
async function closeDeviceLink(deviceId: string): Promise<void> {
  // The relay's device links are private; the test reaches them to cut one connection.
  const relay = ts.server.tunnels as unknown as {
    deps: { links: { get(id: string): { close(r: number, m: string): Promise<void> } } };
  };
  await relay.deps.links.get(deviceId).close(0, "test cut");
}
