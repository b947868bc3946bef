import { mkdtempSync, rmSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DiskFileRepository } from "../src/files/repository.js";
import { makePki, startTestServer, type TestPki, type TestServer } from "./edge-harness.js";

let pki: TestPki;
let ts: TestServer;
let ursula: string;
let repoDir: string;

/** The whole raw HTTP answer to a WebSocket upgrade of `path`, as bytes (the socket is closed after a refusal). */
function upgrade(path: string, token: string): Promise<Buffer> {
  const url = new URL(ts.server.operatorUrl!);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: url.hostname, port: Number(url.port), ca: pki.caPem, servername: "localhost" });
    const chunks: Buffer[] = [];
    const done = () => resolve(Buffer.concat(chunks));
    socket.on("secureConnect", () => {
      socket.write(
        `GET ${path} HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${token}\r\nConnection: Upgrade\r\n` +
          "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
      );
    });
    socket.on("data", (c: Buffer) => {
      chunks.push(c);
      // An accepted upgrade stays open: its status line is the answer.
      if (Buffer.concat(chunks).toString("latin1").startsWith("HTTP/1.1 101")) socket.destroy();
    });
    socket.on("close", done);
    socket.on("error", reject);
  });
}

/** One HTTPS request: status and body text. */
function get(path: string, token: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      `${ts.server.operatorUrl}${path}`,
      { headers: { authorization: `Bearer ${token}` }, ca: pki.caPem },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

beforeAll(async () => {
  pki = makePki(["dev-1", "dev-2"]);
  repoDir = mkdtempSync(join(tmpdir(), "outpost-vis-"));
  ts = await startTestServer(pki, { files: { repository: new DiskFileRepository(repoDir) } });
  ursula = ts.registry.createOperator("ursula", false).token;
  const access = ts.registry.access;
  // Every device permission on every device: only visibility can hide dev-2 from ursula.
  for (const p of ["tunnel.open", "file.read", "file.write"] as const) {
    access.addEntry("allow", { kind: "group", name: "Operators" }, p, { level: "collection", collection: "devices" });
  }
  access.createOrganization("acme");
  access.addUnitMember("acme", "acme", { kind: "user", name: "ursula" });
  access.grantVisibility("acme", "acme", "device", "dev-1");
  const now = Date.now();
  for (const [id, deviceId] of [
    ["t-visible", "dev-1"],
    ["t-hidden1", "dev-2"],
  ] as const) {
    ts.registry.putTransfer({
      id,
      deviceId,
      direction: "pull",
      initiator: "operator:alice",
      repositoryPath: "logs/a.txt",
      devicePath: "logs/a.txt",
      size: 0,
      state: "queued",
      bytesDone: 0,
      bytesMoved: 0,
      attempts: 0,
      chunkBytes: 65536,
      md5: null,
      sha256: null,
      errorCode: null,
      error: null,
      sourceVersion: "",
      maxBytesPerSecond: 0,
      createdAt: now,
      updatedAt: now,
      startedAt: null,
      finishedAt: null,
      expiresAt: now + 60_000,
    });
  }
});

afterAll(async () => {
  await ts?.close();
  rmSync(repoDir, { recursive: true, force: true });
});

describe("access visibility of devices over HTTPS", () => {
  it("access - tunnel to an invisible device: the same bytes as to a nonexistent one (404, not 403)", async () => {
    const invisible = await upgrade("/api/devices/dev-2/tunnel", ursula);
    const missing = await upgrade("/api/devices/dev-9/tunnel", ursula);
    expect(invisible.toString("latin1")).toMatch(/^HTTP\/1\.1 404 /);
    // Names of equal length: the answers are byte for byte equal once the asked name is replaced.
    expect(invisible.toString("latin1").replaceAll("dev-2", "NAME")).toBe(
      missing.toString("latin1").replaceAll("dev-9", "NAME"),
    );
    expect(invisible.length).toBe(missing.length);
    // The same operator passes the checks on the device it sees.
    const visible = await upgrade("/api/devices/dev-1/tunnel", ursula);
    expect(visible.toString("latin1")).toMatch(/^HTTP\/1\.1 101 /);
    const audited = ts.audit.records.filter((r) => r.type === "denied" && r.target === "device:dev-2");
    expect(audited.map((r) => r.details?.reason)).toContain("invisible device");
  });

  it("access - transfer of an invisible device: the same answer as a nonexistent transfer", async () => {
    const invisible = await get("/api/transfers/t-hidden1", ursula);
    const missing = await get("/api/transfers/t-missing", ursula);
    expect(invisible.status).toBe(404);
    expect(invisible.status).toBe(missing.status);
    expect(invisible.body.replaceAll("t-hidden1", "ID")).toBe(missing.body.replaceAll("t-missing", "ID"));
    expect((await get("/api/transfers/t-visible", ursula)).status).toBe(200);
    const listed = JSON.parse((await get("/api/transfers", ursula)).body) as { transfers: { id: string }[] };
    expect(listed.transfers.map((t) => t.id)).toEqual(["t-visible"]);
  });

  it("access - repository and file routes: an invisible device answers like a nonexistent one", async () => {
    for (const route of [
      "/api/devices/D/repository",
      "/api/devices/D/files?path=logs",
      "/api/devices/D/repository/a.txt",
    ]) {
      const invisible = await get(route.replace("D", "dev-2"), ursula);
      const missing = await get(route.replace("D", "dev-9"), ursula);
      expect(invisible.status, route).toBe(404);
      expect(invisible.body.replaceAll("dev-2", "NAME")).toBe(missing.body.replaceAll("dev-9", "NAME"));
    }
  });
});
