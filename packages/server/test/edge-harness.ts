import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:tls";
import { Channel, type Envelope, type Hello, PROTOCOL_VERSION } from "@outpost/protocol";
import { WebSocket } from "ws";
import { MemoryAuditLog } from "../src/audit/memory-audit-log.js";
import { WsTransport } from "../src/edge/ws-transport.js";
import { asyncRegistryOf } from "../src/registry/async-sqlite.js";
import type { Registry } from "../src/registry/async-types.js";
import { SqliteRegistry } from "../src/registry/sqlite.js";
import {
  type EdgeEndpointOptions,
  type OperatorEndpointOptions,
  type OutpostServer,
  type ServerOptions,
  startServer,
} from "../src/server.js";

/** PEM material made with the openssl CLI: a CA, a server certificate for 127.0.0.1, device certificates. */
export interface TestPki {
  caPem: string;
  serverCertPem: string;
  serverKeyPem: string;
  devices: Record<string, { certPem: string; keyPem: string }>;
  /** A device certificate from a CA the server does not trust. */
  rogue: { certPem: string; keyPem: string };
}

function openssl(dir: string, args: string[]): void {
  execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
}

function issue(dir: string, name: string, cn: string, ext: string, ca = "ca"): { certPem: string; keyPem: string } {
  writeFileSync(join(dir, `${name}.ext`), ext);
  openssl(
    dir,
    ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"].concat([
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.csr`,
      "-subj",
      `/CN=${cn}`,
    ]),
  );
  openssl(
    dir,
    ["x509", "-req", "-in", `${name}.csr`, "-CA", `${ca}.pem`, "-CAkey", `${ca}.key`, "-CAcreateserial"].concat([
      "-days",
      "2",
      "-out",
      `${name}.pem`,
      "-extfile",
      `${name}.ext`,
    ]),
  );
  return {
    certPem: readFileSync(join(dir, `${name}.pem`), "utf8"),
    keyPem: readFileSync(join(dir, `${name}.key`), "utf8"),
  };
}

function makeCa(dir: string, name: string): void {
  openssl(
    dir,
    ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"].concat([
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.pem`,
      "-days",
      "2",
      "-subj",
      `/CN=${name} test CA`,
    ]),
  );
}

/** Extensions of a device certificate that meets the certificate policy (docs/pki.md). */
export const DEVICE_EXT =
  "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n";

/** Generates the test PKI once per test file. */
export function makePki(deviceIds: string[]): TestPki {
  const dir = mkdtempSync(join(tmpdir(), "outpost-edge-pki-"));
  try {
    makeCa(dir, "ca");
    makeCa(dir, "rogueca");
    const server = issue(
      dir,
      "server",
      "localhost",
      "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
    );
    const devices: TestPki["devices"] = {};
    for (const id of deviceIds) devices[id] = issue(dir, `dev-${id}`, id, DEVICE_EXT);
    const rogue = issue(dir, "rogue", deviceIds[0] ?? "rogue", DEVICE_EXT, "rogueca");
    return {
      caPem: readFileSync(join(dir, "ca.pem"), "utf8"),
      serverCertPem: server.certPem,
      serverKeyPem: server.keyPem,
      devices,
      rogue,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A running server on ephemeral ports with an in-memory registry and audit log. */
export interface TestServer {
  server: OutpostServer;
  registry: SqliteRegistry;
  audit: MemoryAuditLog;
  /** Application key per device id. */
  keys: Record<string, string>;
  adminToken: string;
  /** An operator with no grants. */
  viewerToken: string;
  close(): Promise<void>;
}

/** Devices dev-1 (Thing pump-1) and dev-2 (Thing pump-2), an admin and a viewer operator. */
export async function startTestServer(
  pki: TestPki,
  overrides: Partial<ServerOptions> & {
    operatorMaxBodyBytes?: number;
    operatorExtra?: Partial<OperatorEndpointOptions>;
    /** Edge endpoint options on top of the test certificates and port 0. */
    edgeExtra?: Partial<EdgeEndpointOptions>;
    /** Runs the server over this registry made from the test registry's asynchronous view. */
    wrapRegistry?: (view: Registry) => Registry;
  } = {},
): Promise<TestServer> {
  const { operatorMaxBodyBytes, operatorExtra, edgeExtra, wrapRegistry, ...serverOverrides } = overrides;
  const registry = new SqliteRegistry(":memory:", { dataKey: randomBytes(32) });
  const audit = new MemoryAuditLog();
  const keys: Record<string, string> = {};
  for (const [id, thing] of [
    ["dev-1", "pump-1"],
    ["dev-2", "pump-2"],
  ] as const) {
    registry.createDevice(id);
    keys[id] = registry.createKey(id).key;
    registry.assignThing(thing, id);
  }
  const adminToken = registry.createOperator("alice", true).token;
  const viewerToken = registry.createOperator("victor", false).token;
  const server = await startServer({
    registry: wrapRegistry ? wrapRegistry(asyncRegistryOf(registry)) : registry,
    audit,
    edge: { port: 0, certPem: pki.serverCertPem, keyPem: pki.serverKeyPem, clientCaPem: pki.caPem, ...edgeExtra },
    operator: {
      port: 0,
      certPem: pki.serverCertPem,
      keyPem: pki.serverKeyPem,
      ...(operatorMaxBodyBytes ? { maxBodyBytes: operatorMaxBodyBytes } : {}),
      ...operatorExtra,
    },
    requestTimeoutMs: 5_000,
    ...serverOverrides,
  });
  return {
    server,
    registry,
    audit,
    keys,
    adminToken,
    viewerToken,
    async close() {
      await server.close();
      registry.close();
    },
  };
}

/** A minimal device written for the tests: ws + Channel, no SDK. */
export interface TestDevice {
  ws: WebSocket;
  channel: Channel;
  /** Sends Hello (version 1 up to ours, agent "edge-test"), with `extra` fields on top. */
  hello(extra?: Hello): Promise<Envelope>;
  auth(appKey: string): Promise<Envelope>;
  bind(things: string[]): Promise<Envelope>;
  /** Envelopes that are not replies (requests from the server, Goodbye), in order. */
  next(): Promise<Envelope | undefined>;
  /** Resolves with the Goodbye the server sent before closing, or undefined. */
  goodbye(): Promise<Envelope | undefined>;
  close(): Promise<void>;
}

/** Opens a TLS WebSocket to the edge endpoint with the given client certificate (or none). */
export async function connectDevice(
  url: string,
  caPem: string,
  identity?: { certPem: string; keyPem: string },
): Promise<TestDevice> {
  const ws = new WebSocket(url, { ca: caPem, ...(identity ? { cert: identity.certPem, key: identity.keyPem } : {}) });
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
    ws.once("close", () => reject(new Error("closed before open")));
  });
  const channel = new Channel(new WsTransport(ws, { pingIntervalMs: 0 }), { requestTimeoutMs: 5_000 });
  const iterator = channel.messages[Symbol.asyncIterator]();
  const next = async (): Promise<Envelope | undefined> => {
    const r = await iterator.next();
    return r.done ? undefined : r.value;
  };
  return {
    ws,
    channel,
    hello: (extra = {}) =>
      channel.request({ hello: { minVersion: 1, maxVersion: PROTOCOL_VERSION, agent: "edge-test", ...extra } }),
    auth: (appKey) => channel.request({ auth: { appKey } }),
    bind: (things) => channel.request({ bind: { things } }),
    next,
    async goodbye() {
      for (;;) {
        const env = await next();
        if (!env || env.body === "goodbye") return env;
      }
    },
    close: () => channel.close(),
  };
}

/** Connects, says hello, authenticates and binds. */
export async function readyDevice(
  ts: TestServer,
  pki: TestPki,
  deviceId: string,
  things: string[],
): Promise<TestDevice> {
  const device = await connectDevice(ts.server.edgeUrl, pki.caPem, pki.devices[deviceId]);
  await device.hello();
  await device.auth(ts.keys[deviceId]!);
  await device.bind(things);
  return device;
}

/** The status and parsed JSON body of one operator API call. */
export interface OperatorReply {
  status: number;
  json: any;
}

/** Calls the test server's operator API over HTTPS (bearer `token` when given, JSON `body`). */
export function operatorRequest(
  ts: TestServer,
  pki: TestPki,
  method: string,
  path: string,
  options: { token?: string; body?: string } = {},
): Promise<OperatorReply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    const req = httpsRequest(`${ts.server.operatorUrl}${path}`, { method, headers, ca: pki.caPem }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        resolve({ status: res.statusCode ?? 0, json: text ? JSON.parse(text) : undefined });
      });
    });
    req.on("error", reject);
    req.end(options.body);
  });
}

/** A TLS session to resume (filled in by {@link tlsHandshake}) and whether the server resumed it. */
export interface TlsResume {
  session?: Buffer;
  reused?: boolean;
}

/** A TLS handshake to the edge: "ok" once the server accepted the certificate, or the client's error text. */
export async function tlsHandshake(
  url: string,
  caPem: string,
  identity: { certPem: string; keyPem: string },
  resume?: TlsResume,
): Promise<string> {
  const { port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect({
      host: "127.0.0.1",
      port: Number(port),
      ca: caPem,
      cert: identity.certPem,
      key: identity.keyPem,
      servername: "localhost",
      ...(resume?.session ? { session: resume.session } : {}),
    });
    socket.on("session", (session: Buffer) => {
      if (resume) resume.session = session;
    });
    socket.once("secureConnect", () => {
      if (resume) resume.reused = socket.isSessionReused();
    });
    // In TLS 1.3 the server judges the certificate after the client's Finished: ask for something
    // and wait for the answer or the alert.
    socket.once("secureConnect", () => socket.write("GET / HTTP/1.1\r\nhost: x\r\n\r\n"));
    socket.on("data", () => {
      socket.destroy();
      resolve("ok");
    });
    socket.once("error", (err) => resolve(err.message));
    socket.once("close", () => resolve("closed"));
  });
}
