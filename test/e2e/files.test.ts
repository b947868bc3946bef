import { createHash, randomBytes } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DiskFileRepository } from "@outpost/server";
import { EdgeClient } from "@outpost/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  makePki,
  operatorRequest,
  startTestServer,
  type TestPki,
  type TestServer,
} from "../../packages/server/test/edge-harness.js";
import { waitUntil } from "../helpers/wait.js";

let pki: TestPki;
let ts: TestServer;
let base: string;
let client: EdgeClient;
const deviceAudit: { event: string; transferId: string }[] = [];

beforeAll(async () => {
  base = mkdtempSync(join(tmpdir(), "outpost-files-"));
  mkdirSync(join(base, "device", "logs"), { recursive: true });
  mkdirSync(join(base, "device", "outside"), { recursive: true });
  writeFileSync(join(base, "device", "outside", "secret"), "secret");
  symlinkSync(join(base, "device", "outside"), join(base, "device", "logs", "escape"));
  pki = makePki(["dev-1", "dev-2"]);
  ts = await startTestServer(pki, {
    files: { repository: new DiskFileRepository(join(base, "repo")), chunkBytes: 64 * 1024 },
  });
  client = new EdgeClient({
    url: ts.server.edgeUrl,
    appKey: ts.keys["dev-1"]!,
    tls: { ca: pki.caPem, cert: pki.devices["dev-1"]!.certPem, key: pki.devices["dev-1"]!.keyPem },
    flushIntervalMs: 0,
    files: {
      virtualDirs: { logs: join(base, "device", "logs") },
      maxFileBytes: 8 * 1024 * 1024,
      audit: (e) => deviceAudit.push(e),
    },
  });
  await client.connect();
});

afterAll(async () => {
  await client?.close();
  await ts?.close();
  rmSync(base, { recursive: true, force: true });
});

function upload(path: string, body: Buffer, token = ts.adminToken): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      `${ts.server.operatorUrl}/api/devices/dev-1/repository/${path}`,
      {
        method: "PUT",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/octet-stream" },
        ca: pki.caPem,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString() || "null") }),
        );
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

function download(path: string): Promise<{ status: number; body: Buffer; md5: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      `${ts.server.operatorUrl}/api/devices/dev-1/repository/${path}`,
      { headers: { authorization: `Bearer ${ts.adminToken}` }, ca: pki.caPem },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks),
            md5: res.headers["x-outpost-md5"] as string,
          }),
        );
      },
    );
    req.on("error", reject);
    req.end();
  });
}

async function start(body: object, token = ts.adminToken) {
  return operatorRequest(ts, pki, "POST", "/api/devices/dev-1/transfers", { token, body: JSON.stringify(body) });
}

async function finished(id: string) {
  return waitUntil(`transfer ${id} to finish`, async () => {
    const r = await operatorRequest(ts, pki, "GET", `/api/transfers/${id}`, { token: ts.adminToken });
    return ["completed", "failed", "cancelled"].includes(r.json.state) ? r.json : undefined;
  });
}

const md5 = (b: Buffer) => createHash("md5").update(b).digest("hex");

describe("files - operator API, server and SDK over real TLS", () => {
  it("files - upload, push to the device, pull back and download: same bytes, same MD5 everywhere", async () => {
    const data = randomBytes(3 * 1024 * 1024 + 17);
    const up = await upload("fw/image.bin", data);
    expect(up.status).toBe(201);
    expect(up.json.md5).toBe(md5(data));
    const push = await start({ direction: "push", repositoryPath: "fw/image.bin", devicePath: "logs/fw/image.bin" });
    expect(push.status).toBe(202);
    const pushed = await finished(push.json.id);
    expect(pushed.state).toBe("completed");
    expect(pushed.md5).toBe(md5(data));
    expect(md5(readFileSync(join(base, "device", "logs", "fw", "image.bin")))).toBe(md5(data));
    const pull = await start({ direction: "pull", repositoryPath: "back/image.bin", devicePath: "logs/fw/image.bin" });
    const pulled = await finished(pull.json.id);
    expect(pulled.state).toBe("completed");
    const down = await download("back/image.bin");
    expect(down.status).toBe(200);
    expect(md5(down.body)).toBe(md5(data));
    expect(down.md5).toBe(md5(data));
    const ls = await operatorRequest(ts, pki, "GET", "/api/devices/dev-1/files?path=logs/fw", { token: ts.adminToken });
    expect(ls.json.entries).toEqual([
      expect.objectContaining({ name: "image.bin", size: data.byteLength, md5: md5(data) }),
    ]);
    const root = await operatorRequest(ts, pki, "GET", "/api/devices/dev-1/files?path=logs", { token: ts.adminToken });
    expect(root.status, JSON.stringify(root.json)).toBe(200);
    expect(root.json.entries).toEqual(
      expect.arrayContaining([expect.objectContaining({ name: "fw", type: "directory" })]),
    );
    const events = ts.audit.records.filter((r) => r.type === "file.transfer").map((r) => r.details?.event);
    expect(events).toEqual(expect.arrayContaining(["upload", "start", "completed", "download"]));
    expect(deviceAudit.filter((e) => e.transferId === push.json.id).map((e) => e.event)).toEqual([
      "start",
      "completed",
    ]);
  });

  it("files - a path leading out of the vdir fails the push and nothing is written outside", async () => {
    await upload("small.txt", Buffer.from("hello"));
    for (const devicePath of ["logs/../outside/x", "logs/escape/x", "/etc/x", "logs/a\\b", "logs/CON"]) {
      const r = await start({ direction: "push", repositoryPath: "small.txt", devicePath });
      const t = await finished(r.json.id);
      expect(t.state, devicePath).toBe("failed");
      expect(t.errorCode, devicePath).toBe("OUTPOST_PATH_REFUSED");
    }
    expect(readdirSync(join(base, "device", "outside"))).toEqual(["secret"]);
    const pull = await start({ direction: "pull", repositoryPath: "stolen", devicePath: "logs/escape/secret" });
    expect((await finished(pull.json.id)).errorCode).toBe("OUTPOST_PATH_REFUSED");
  });

  it("files - a file over the device's limit is refused before any byte lands", async () => {
    await upload("big.bin", randomBytes(9 * 1024 * 1024));
    const r = await start({ direction: "push", repositoryPath: "big.bin", devicePath: "logs/big.bin" });
    const t = await finished(r.json.id);
    expect(t.errorCode).toBe("OUTPOST_FILE_TOO_LARGE");
    expect(t.bytesMoved).toBe(0);
    expect(existsSync(join(base, "device", "logs", "big.bin"))).toBe(false);
    expect(readdirSync(join(base, "device", "logs", ".outpost-staging"))).toEqual([]);
  });

  it("files - permissions: an operator without file.read/file.write is refused and audited; a grant lets them", async () => {
    const before = ts.audit.records.length;
    const r = await start({ direction: "push", repositoryPath: "small.txt", devicePath: "logs/s.txt" }, ts.viewerToken);
    expect(r.status).toBe(403);
    expect(ts.audit.records.slice(before).some((a) => a.type === "denied")).toBe(true);
    expect((await upload("x.txt", Buffer.from("x"), ts.viewerToken)).status).toBe(403);
    ts.registry.grant({ kind: "operator", id: "victor" }, "dev-1", "file.write");
    const ok = await start(
      { direction: "push", repositoryPath: "small.txt", devicePath: "logs/s.txt" },
      ts.viewerToken,
    );
    expect(ok.status).toBe(202);
    const pull = await start({ direction: "pull", repositoryPath: "s.txt", devicePath: "logs/s.txt" }, ts.viewerToken);
    expect(pull.status).toBe(403);
    const list = await operatorRequest(ts, pki, "GET", "/api/transfers", { token: ts.viewerToken });
    expect(list.json.transfers).toEqual([]);
  });

  it("files - a capped push takes its time, and a cancel leaves nothing at the target or in staging", async () => {
    await upload("slow.bin", randomBytes(2 * 1024 * 1024));
    const t0 = Date.now();
    const r = await start({
      direction: "push",
      repositoryPath: "slow.bin",
      devicePath: "logs/slow.bin",
      maxBytesPerSecond: 1024 * 1024,
    });
    await waitUntil("the capped push to make progress", async () => {
      const t = await operatorRequest(ts, pki, "GET", `/api/transfers/${r.json.id}`, { token: ts.adminToken });
      return t.json.bytesDone > 256 * 1024;
    });
    const c = await operatorRequest(ts, pki, "POST", `/api/transfers/${r.json.id}/cancel`, { token: ts.adminToken });
    expect(c.status).toBe(200);
    expect(c.json.state).toBe("cancelled");
    expect(Date.now() - t0).toBeGreaterThan(200);
    await waitUntil("the device to record the cancel", () =>
      deviceAudit.some((e) => e.transferId === r.json.id && e.event === "cancelled"),
    );
    expect(existsSync(join(base, "device", "logs", "slow.bin"))).toBe(false);
    expect(readdirSync(join(base, "device", "logs", ".outpost-staging"))).toEqual([]);
    const again = await operatorRequest(ts, pki, "POST", `/api/transfers/${r.json.id}/cancel`, {
      token: ts.adminToken,
    });
    expect(again.status).toBe(409);
    expect(ts.audit.records.some((a) => a.type === "file.transfer" && a.details?.event === "cancelled")).toBe(true);
  });

  it("files - the device uploads from a vdir and downloads into one, with progress, listing and audit", async () => {
    const data = randomBytes(2 * 1024 * 1024 + 5);
    writeFileSync(join(base, "device", "logs", "report.bin"), data);
    const progress: number[] = [];
    const up = await client.files!.upload("logs/report.bin", "reports/r1.bin", {
      onProgress: (p) => progress.push(p.bytesDone),
    });
    expect(up.state).toBe("completed");
    expect(up.md5).toBe(md5(data));
    expect(progress.length).toBeGreaterThan(1);
    const down = await download("reports/r1.bin");
    expect(md5(down.body)).toBe(md5(data));
    const back = await client.files!.download("reports/r1.bin", "logs/copy/r1.bin");
    expect(back.md5).toBe(md5(data));
    expect(md5(readFileSync(join(base, "device", "logs", "copy", "r1.bin")))).toBe(md5(data));
    expect(client.files!.transfers().map((t) => [t.direction, t.state])).toEqual([
      ["upload", "completed"],
      ["download", "completed"],
    ]);
    await expect(client.files!.download("reports/missing.bin", "logs/m.bin")).rejects.toMatchObject({
      code: "OUTPOST_NOT_FOUND",
    });
    await expect(client.files!.upload("logs/report.bin", "../escape")).rejects.toMatchObject({
      code: "OUTPOST_PATH_REFUSED",
    });
    const server = ts.audit.records.filter((r) => r.type === "file.transfer" && r.actor === "device:dev-1");
    expect(server.map((r) => r.details?.event)).toEqual(["start", "completed", "start", "completed"]);
    const abort = new AbortController();
    abort.abort();
    await expect(
      client.files!.upload("logs/report.bin", "reports/r2.bin", { signal: abort.signal }),
    ).rejects.toMatchObject({
      code: "OUTPOST_ABORTED",
    });
  });
});
