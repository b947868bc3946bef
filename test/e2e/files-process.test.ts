import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { OperatorClient } from "@outpost/operator";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FaultProxy } from "../helpers/fault-proxy.js";
import { runOutpost } from "../helpers/outpost-cli.js";
import { type DeviceBundle, repoRoot, ServerProcess } from "../helpers/server-process.js";
import { waitUntil } from "../helpers/wait.js";

// Real processes over real TLS: `outpost-server serve`, SDK device processes, the `outpost` CLI.
const MB = 1024 * 1024;
const CHUNK = 256 * 1024;
const WINDOW = 16;
const deviceScript = join(repoRoot, "test", "helpers", "file-device.mjs");

interface Device {
  child: ChildProcess;
  lines: Record<string, any>[];
  vdir: string;
}

let server: ServerProcess;
let proxy: FaultProxy;
let bundle: DeviceBundle;
let flipBundle: DeviceBundle;
let device: Device;
let flipDevice: Device;
let op: OperatorClient;
let work: string;
let env: Record<string, string>;

function startDevice(b: DeviceBundle, url: string, name: string, extra: string[] = []): Device {
  const vdir = join(work, name);
  mkdirSync(vdir, { recursive: true });
  const child = spawn(
    process.execPath,
    [deviceScript, "--bundle", b.dir, "--url", url, "--vdir", `data=${vdir}`, "--thing", b.things[0]!, ...extra],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  const lines: Record<string, any>[] = [];
  createInterface({ input: child.stdout! }).on("line", (l) => lines.push(JSON.parse(l) as Record<string, any>));
  return { child, lines, vdir };
}

function randomFile(path: string, bytes: number): void {
  const r = spawnSync("head", ["-c", String(bytes), "/dev/urandom"], { maxBuffer: bytes + 1024 });
  writeFileSync(path, r.stdout);
}

function md5sum(path: string): string {
  return spawnSync("md5sum", [path], { encoding: "utf8" }).stdout.split(" ")[0]!;
}

async function finished(id: string, timeoutMs = 60_000) {
  return waitUntil(
    `transfer ${id} to finish`,
    async () => {
      const t = await op.getTransfer(id);
      return ["completed", "failed", "cancelled"].includes(t.state) ? t : undefined;
    },
    { timeoutMs, intervalMs: 100 },
  );
}

/** Chunk bytes the device received (or sent) for a transfer, over all its attempts. */
function deviceBytes(d: Device, id: string): { bytes: number; attempts: number } {
  const records = d.lines.filter((l) => l.audit?.transferId === id && l.audit.event !== "start");
  return { bytes: records.reduce((n, l) => n + (l.audit.bytes as number), 0), attempts: records.length };
}

beforeAll(async () => {
  server = ServerProcess.init();
  work = join(server.dataDir, "..", "work");
  mkdirSync(work, { recursive: true });
  bundle = server.addDevice("dev-f", ["files-1"]);
  flipBundle = server.addDevice("dev-g", ["files-2"]);
  await server.start();
  proxy = await FaultProxy.start(server.edgePort);
  op = new OperatorClient({ url: server.operatorUrl, token: server.adminToken, ca: server.caPem });
  env = { OUTPOST_SERVER: server.operatorUrl, OUTPOST_TOKEN: server.adminToken, OUTPOST_CA: server.caPath };
  device = startDevice(bundle, `wss://127.0.0.1:${proxy.port}`, "dev-f");
  flipDevice = startDevice(flipBundle, server.edgeUrl, "dev-g", ["--flip-chunk", "10"]);
  await waitUntil("both devices to connect", () =>
    [device, flipDevice].every((d) => d.lines.some((l) => l.status === "connected")),
  );
}, 60_000);

afterAll(async () => {
  for (const d of [device, flipDevice]) d?.child.kill("SIGTERM");
  await proxy?.close();
  await server?.dispose();
});

describe("files - real server, device and CLI processes over TLS", () => {
  it("files - 100 MB each way with the CLI: md5sum of source and target equal; service calls keep flowing", async () => {
    const src = join(work, "src-100.bin");
    randomFile(src, 100 * MB);
    const latencies: number[] = [];
    let pushing = true;
    const calls = (async () => {
      while (pushing) {
        const t0 = performance.now();
        await op.invokeService("files-1", "ping", {}, { timeoutMs: 10_000 });
        latencies.push(performance.now() - t0);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const t0 = Date.now();
    const push = await runOutpost(["files", "push", "dev-f", src, "data/in/100.bin"], env);
    pushing = false;
    await calls;
    expect(push.status, push.stderr).toBe(0);
    expect(push.stdout).toMatch(/100%/);
    expect(push.stdout.split("\n").filter((l) => /^push \d+%/.test(l)).length).toBeGreaterThanOrEqual(2);
    expect(md5sum(join(device.vdir, "in", "100.bin"))).toBe(md5sum(src));
    const sorted = [...latencies].sort((a, b) => a - b);
    const p99 = sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))] ?? 0;
    console.log(
      `files: 100 MB push by CLI in ${Date.now() - t0} ms; service call p99 ${p99.toFixed(1)} ms over ${latencies.length} calls`,
    );
    expect(latencies.length).toBeGreaterThan(0);
    expect(p99).toBeLessThan(1000);

    const back = join(work, "back-100.bin");
    const pull = await runOutpost(["files", "pull", "dev-f", "data/in/100.bin", back], env);
    expect(pull.status, pull.stderr).toBe(0);
    expect(md5sum(back)).toBe(md5sum(src));
  }, 120_000);

  it("files - a link cut mid-push resumes at the last verified chunk; re-sent bytes stay within window x chunk", async () => {
    const src = join(work, "src-cut.bin");
    randomFile(src, 64 * MB);
    await op.uploadFile("dev-f", "cut.bin", src);
    const t = await op.startTransfer("dev-f", {
      direction: "push",
      repositoryPath: "cut.bin",
      devicePath: "data/cut.bin",
    });
    await waitUntil("the push to be a third done", async () => (await op.getTransfer(t.id)).bytesDone > 20 * MB, {
      intervalMs: 20,
    });
    proxy.cutAll();
    const done = await finished(t.id);
    expect(done.state).toBe("completed");
    expect(md5sum(join(device.vdir, "cut.bin"))).toBe(md5sum(src));
    expect(done.attempts).toBeGreaterThanOrEqual(2);
    const resent = done.bytesMoved - done.size;
    console.log(`files: link cut: ${done.attempts} attempts, ${resent} bytes re-sent (bound ${WINDOW * CHUNK})`);
    expect(resent).toBeLessThanOrEqual(WINDOW * CHUNK);
    expect(deviceBytes(device, t.id).attempts).toBeGreaterThanOrEqual(2);
  }, 120_000);

  it("files - SIGKILL of the server mid-push: after restart the push resumes from the device's verified chunks", async () => {
    const src = join(work, "src-kill.bin");
    randomFile(src, 64 * MB);
    await op.uploadFile("dev-f", "kill.bin", src);
    const t = await op.startTransfer("dev-f", {
      direction: "push",
      repositoryPath: "kill.bin",
      devicePath: "data/kill.bin",
      // Paced, so the push is still running when the kill comes, however fast the link is.
      maxBytesPerSecond: 8 * MB,
    });
    await waitUntil("the push to be a third done", async () => (await op.getTransfer(t.id)).bytesDone > 20 * MB, {
      intervalMs: 20,
    });
    await server.kill();
    await server.start();
    op = new OperatorClient({ url: server.operatorUrl, token: server.adminToken, ca: server.caPem });
    const done = await finished(t.id);
    expect(done.state).toBe("completed");
    expect(md5sum(join(device.vdir, "kill.bin"))).toBe(md5sum(src));
    const got = deviceBytes(device, t.id);
    console.log(
      `files: SIGKILL: device received ${got.bytes} chunk bytes over ${got.attempts} attempts for ${done.size}`,
    );
    expect(got.attempts).toBeGreaterThanOrEqual(2);
    expect(got.bytes - done.size).toBeLessThanOrEqual(WINDOW * CHUNK);
    const audit = server.auditRecords().filter((r) => (r.details as any)?.transfer === t.id);
    expect(audit.map((r) => (r.details as any).event)).toEqual(["start", "completed"]);
  }, 120_000);

  it("files - one flipped byte in one chunk on the wire is detected, the chunk re-sent, the file committed intact", async () => {
    const src = join(flipDevice.vdir, "flip.bin");
    randomFile(src, 8 * MB);
    const t = await op.startTransfer("dev-g", {
      direction: "pull",
      repositoryPath: "flip.bin",
      devicePath: "data/flip.bin",
    });
    const done = await finished(t.id);
    expect(flipDevice.lines.some((l) => l.flipped === 10)).toBe(true);
    expect(done.state).toBe("completed");
    expect(done.attempts).toBe(2);
    const local = join(work, "flip-back.bin");
    const got = await op.downloadFile("dev-g", "flip.bin", local);
    expect(got.md5).toBe(md5sum(src));
    expect(md5sum(local)).toBe(md5sum(src));
    const failed = flipDevice.lines.find((l) => l.audit?.transferId === t.id && l.audit.event === "failed");
    expect(failed?.audit.error.code).toBe("OUTPOST_INTEGRITY");
  }, 60_000);

  it("files - the CLI refuses an escaping path with exit 1 and OUTPOST_PATH_REFUSED, and nothing lands", async () => {
    const src = join(work, "small.txt");
    writeFileSync(src, "hello");
    const r = await runOutpost(["files", "push", "dev-f", src, "data/../../escape.txt"], env);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("OUTPOST_PATH_REFUSED");
    const dev = await runOutpost(["files", "push", "dev-f", src, "data/NUL.txt"], env);
    expect(dev.status).toBe(1);
    expect(dev.stderr).toContain("OUTPOST_PATH_REFUSED");
    const ls = await runOutpost(["files", "ls", "dev-f", "data", "--json"], env);
    expect(ls.status, ls.stderr).toBe(0);
    expect(JSON.parse(ls.stdout).entries.map((e: { name: string }) => e.name)).not.toContain("escape.txt");
    const list = await runOutpost(["files", "transfers", "--device", "dev-f", "--json"], env);
    expect(JSON.parse(list.stdout).some((x: { errorCode: string }) => x.errorCode === "OUTPOST_PATH_REFUSED")).toBe(
      true,
    );
  }, 60_000);
});
