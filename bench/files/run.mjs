// File transfer benchmark, all in one run on 127.0.0.1 against a real `outpost-server serve`:
//   1. push (server repository -> device vdir) and pull (device -> repository) of one random file
//      vs `scp` of the same file to and from a local sshd (the baseline), alternating A B; prints
//      each round and the ratio scp time / Outpost time (goal >= 1.0).
//   2. where the time goes: AES-256-GCM sealing, MD5 + SHA-256, framing and disk write + fsync of
//      the same bytes in this process, each alone.
//   3. service-call latency on the same device while a push runs (p50/p99).
// Each round also moves the file through one plain TLS WebSocket hop with no protocol on top
// (bench/lib/raw-wss-file.mjs): the ceiling of any transfer over that transport, as a ratio to scp;
// and once more with the per-byte work the design requires at both ends (AES-256-GCM per chunk,
// MD5 and SHA-256 of the file; bench/lib/file-work.mjs), the ceiling of an Outpost transfer.
// The device (SDK) and the operator client run in this process; the server is a child process.
// Needs sshd, ssh, scp (Debian: openssh-server, openssh-client). After `npm run build`:
//   node bench/files/run.mjs [--mb=1024] [--rounds=1]
// BENCH_SERVER_NODE_ARGS adds node flags to the server (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof").
import { execFileSync, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { OperatorClient } from "@outpost/operator";
import { WebSocket } from "ws";
import { chunkAad, createKeyShare, deriveSessionKeys, sealParts } from "@outpost/protocol";
import { EdgeClient, silentLogger } from "@outpost/sdk";
import { cpuDelta, cpuOf, threadsOf, threadSplit } from "../lib/cpu.mjs";
import { receiveFile, receiver, sender, sendFile } from "../lib/file-work.mjs";
import { freePort, quantile, startProcess, stopAll } from "../lib/processes.mjs";

const arg = (name, dflt) => {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  return a ? Number(a.slice(name.length + 3)) : dflt;
};
const MB = arg("mb", 1024);
const ROUNDS = arg("rounds", 1);
const BYTES = MB * 1024 * 1024;
const CHUNK = 256 * 1024;
const root = join(import.meta.dirname, "..", "..");
const SERVER_CLI = join(root, "packages", "server", "dist", "cli", "main.js");
const SERVER_NODE_ARGS = (process.env.BENCH_SERVER_NODE_ARGS ?? "").split(/\s+/).filter(Boolean);
const dir = mkdtempSync(join(tmpdir(), "outpost-bench-files-"));
const children = [];
const cleanups = [];

const start = (cmd, args, ready) => startProcess(children, cmd, args, ready);
const rate = (ms) => `${(MB / (ms / 1000)).toFixed(1)} MiB/s`;
const md5sum = (f) => execFileSync("md5sum", [f], { encoding: "utf8" }).split(" ")[0];

async function timed(fn) {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

try {
  const data = join(dir, "server");
  const init = execFileSync(process.execPath, [SERVER_CLI, "init", "--data", data], { encoding: "utf8" });
  const token = /opt_[A-Za-z0-9_-]+/.exec(init)[0];
  const bundle = join(dir, "bundle");
  execFileSync(process.execPath, [
    SERVER_CLI,
    "device",
    "add",
    "bench-f",
    "--things",
    "bench-files",
    "--out",
    bundle,
    "--data",
    data,
  ]);
  const server = await start(
    process.execPath,
    [...SERVER_NODE_ARGS, SERVER_CLI, "serve", "--data", data, "--edge-port", "0", "--operator-port", "0"],
    (l) => {
      try {
        const m = JSON.parse(l);
        return m.edgeUrl && m.operatorUrl ? m : undefined;
      } catch {
        return undefined;
      }
    },
  );
  const { edgeUrl, operatorUrl } = server.value;
  const ca = readFileSync(join(data, "ca", "ca.pem"), "utf8");

  // --- sshd for the baseline, with its own keys and port
  mkdirSync("/run/sshd", { recursive: true });
  for (const k of ["host_key", "client_key"])
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, k)]);
  writeFileSync(join(dir, "authorized_keys"), readFileSync(join(dir, "client_key.pub")));
  const sshPort = await freePort();
  const sshdArgs = ["-D", "-e", "-f", "/dev/null", "-o", `Port=${sshPort}`, "-o", "ListenAddress=127.0.0.1"];
  for (const o of [
    `HostKey=${join(dir, "host_key")}`,
    `AuthorizedKeysFile=${join(dir, "authorized_keys")}`,
    "StrictModes=no",
    "UsePAM=no",
    "PidFile=none",
  ])
    sshdArgs.push("-o", o);
  const sshd = await start("/usr/sbin/sshd", sshdArgs, (l) => l.includes("Server listening"));
  const scpBase = [
    "-q",
    "-O",
    "-i",
    join(dir, "client_key"),
    "-P",
    String(sshPort),
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "BatchMode=yes",
  ];
  const scp = (from, to) =>
    new Promise((resolve, reject) => {
      const c = spawn("scp", [...scpBase, from, to], { stdio: "inherit" });
      c.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`scp exited ${code}`))));
    });

  // --- the ceiling: the file over one plain TLS WebSocket hop, written and fsynced at the far end
  const raw = await start(
    process.execPath,
    [
      join(root, "bench", "lib", "raw-wss-file.mjs"),
      join(data, "tls", "server.pem"),
      join(data, "tls", "server.key"),
      dir,
    ],
    (l) => {
      try {
        return JSON.parse(l).port;
      } catch {
        return undefined;
      }
    },
  );
  const rawSocket = (path) =>
    new WebSocket(`wss://127.0.0.1:${raw.value}/${path}`, {
      ca,
      perMessageDeflate: false,
      generateMask: (mask) => mask.fill(0),
      maxPayload: 16 * 1024 * 1024,
    });
  // With `work`, resolves to the MD5 both ends computed (they must agree).
  const rawGet = (name, to, work) =>
    new Promise((resolve, reject) => {
      const r = work ? receiver() : undefined;
      const ws = rawSocket(`get/${name}${work ? "?work" : ""}`);
      ws.on("error", reject);
      receiveFile(ws, to, r, (end) => {
        ws.close();
        const theirs = end.split(" ").slice(1);
        if (r && r.digests().join() !== theirs.join()) reject(new Error("digests differ"));
        resolve(theirs[0]);
      });
    });
  const rawPut = (from, name, work) =>
    new Promise((resolve, reject) => {
      const ws = rawSocket(`put/${name}${work ? "?work" : ""}`);
      const s = work ? sender() : undefined;
      ws.on("error", reject);
      ws.on("message", (m) => {
        ws.close();
        const theirs = String(m).split(" ").slice(1);
        if (s && s.digests().join() !== theirs.join()) reject(new Error("digests differ"));
        resolve(theirs[0]);
      });
      ws.on("open", () =>
        sendFile(ws, from, s).then(
          () => ws.send("end"),
          (err) => {
            ws.terminate();
            reject(err);
          },
        ),
      );
    });

  // --- the device with a vdir, a service for latency
  const vdir = join(dir, "vdir");
  mkdirSync(vdir);
  const read = (f) => readFileSync(join(bundle, f), "utf8");
  const device = new EdgeClient({
    url: edgeUrl,
    appKey: read("app-key").trim(),
    tls: { ca: read("ca.pem"), cert: read("device.pem"), key: read("device.key") },
    logger: silentLogger,
    files: { virtualDirs: { data: vdir }, maxFileBytes: BYTES * 2 },
  });
  device.thing("bench-files").service("ping", () => "pong");
  await device.connect();
  cleanups.push(() => device.close());
  const op = new OperatorClient({ url: operatorUrl, token, ca, timeoutMs: 600_000 });

  const src = join(dir, "src.bin");
  const fd = openSync(src, "w");
  for (let left = BYTES; left > 0; left -= 8 * 1024 * 1024) writeSync(fd, randomBytes(Math.min(left, 8 * 1024 * 1024)));
  closeSync(fd);
  await op.uploadFile("bench-f", "bench/src.bin", src);
  const srcMd5 = md5sum(src);

  const waitDone = async (id) => {
    for (;;) {
      // A kept-alive connection the server closed just as it was reused: ask again.
      const t = await op
        .getTransfer(id)
        .catch((e) => (e.code === "OUTPOST_CONNECTION_CLOSED" ? undefined : Promise.reject(e)));
      if (!t) continue;
      if (t.state === "completed") return t;
      if (t.state === "failed" || t.state === "cancelled") throw new Error(`transfer ${t.state}: ${t.error}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  console.log(`files bench: ${MB} MiB random file, ${ROUNDS} round(s), chunk 256 KiB, window 16, loopback`);
  const results = { push: [], pull: [], scpTo: [], scpFrom: [], rawTo: [], rawFrom: [], workTo: [], workFrom: [] };
  // CPU seconds of each phase: this process (device + operator client), the server, scp + ssh
  // (children of this process, counted once waited for) and sshd (its session child, once reaped).
  const cpuSnap = () => ({
    self: cpuOf(process.pid),
    server: cpuOf(server.child.pid),
    sshd: cpuOf(sshd.child.pid),
    selfThreads: threadsOf(process.pid),
    serverThreads: threadsOf(server.child.pid),
  });
  const cpuUse = { push: [], pull: [], scpTo: [], scpFrom: [] };
  const measured = async (name, fn) => {
    const a = cpuSnap();
    const ms = await timed(fn);
    // sshd reaps its session child shortly after scp exits.
    if (name.startsWith("scp")) await new Promise((r) => setTimeout(r, 300));
    const b = cpuSnap();
    const self = cpuDelta(a.self, b.self);
    const srv = cpuDelta(a.server, b.server);
    const sshdUse = cpuDelta(a.sshd, b.sshd);
    cpuUse[name].push(
      name.startsWith("scp")
        ? { scp: self.children, sshd: sshdUse.all + sshdUse.children }
        : {
            device: self.all,
            deviceThreads: threadSplit(process.pid, a.selfThreads, b.selfThreads),
            server: srv.all,
            serverThreads: threadSplit(server.child.pid, a.serverThreads, b.serverThreads),
          },
    );
    return ms;
  };
  const latencies = [];
  for (let r = 0; r < ROUNDS; r++) {
    let pushing = true;
    const calls = (async () => {
      while (pushing) {
        const t0 = performance.now();
        const ok = await op.invokeService("bench-files", "ping", {}, { timeoutMs: 30_000 }).then(
          () => true,
          (e) => (e.code === "OUTPOST_CONNECTION_CLOSED" ? false : Promise.reject(e)),
        );
        if (!ok) continue;
        latencies.push(performance.now() - t0);
        await new Promise((res) => setTimeout(res, 10));
      }
    })();
    const push = await measured("push", async () => {
      const t = await op.startTransfer("bench-f", {
        direction: "push",
        repositoryPath: "bench/src.bin",
        devicePath: `data/push-${r}.bin`,
      });
      await waitDone(t.id);
    });
    pushing = false;
    await calls;
    if (md5sum(join(vdir, `push-${r}.bin`)) !== srcMd5) throw new Error("pushed file differs");
    const scpTo = await measured("scpTo", () => scp(src, `127.0.0.1:${join(dir, `scp-to-${r}.bin`)}`));
    const pull = await measured("pull", async () => {
      const t = await op.startTransfer("bench-f", {
        direction: "pull",
        repositoryPath: `bench/pull-${r}.bin`,
        devicePath: `data/push-${r}.bin`,
      });
      await waitDone(t.id);
    });
    const scpFrom = await measured("scpFrom", () =>
      scp(`127.0.0.1:${join(dir, `scp-to-${r}.bin`)}`, join(dir, `scp-from-${r}.bin`)),
    );
    const rawTo = await timed(() => rawGet("src.bin", join(dir, `raw-to-${r}.bin`)));
    if (md5sum(join(dir, `raw-to-${r}.bin`)) !== srcMd5) throw new Error("plain ws copy differs");
    const rawFrom = await timed(() => rawPut(join(dir, `raw-to-${r}.bin`), `raw-from-${r}.bin`));
    let md5;
    const workTo = await timed(async () => (md5 = await rawGet("src.bin", join(dir, `work-to-${r}.bin`), true)));
    if (md5 !== srcMd5) throw new Error("plain ws copy with the required work differs");
    const workFrom = await timed(
      async () => (md5 = await rawPut(join(dir, `work-to-${r}.bin`), `work-from-${r}.bin`, true)),
    );
    if (md5 !== srcMd5) throw new Error("plain ws copy with the required work differs");
    Object.entries({ push, pull, scpTo, scpFrom, rawTo, rawFrom, workTo, workFrom }).forEach(([k, v]) =>
      results[k].push(v),
    );
    console.log(
      `round ${r + 1}: push ${push.toFixed(0)} ms (${rate(push)}), scp to ${scpTo.toFixed(0)} ms (${rate(scpTo)}); ` +
        `pull ${pull.toFixed(0)} ms (${rate(pull)}), scp from ${scpFrom.toFixed(0)} ms (${rate(scpFrom)}); ` +
        `plain ws hop ${rawTo.toFixed(0)} / ${rawFrom.toFixed(0)} ms (${rate(rawTo)} / ${rate(rawFrom)}), ` +
        `with the required work ${workTo.toFixed(0)} / ${workFrom.toFixed(0)} ms (${rate(workTo)} / ${rate(workFrom)})`,
    );
    for (const f of [`push-${r}.bin`]) rmSync(join(vdir, f), { force: true });
    for (const f of [
      `scp-to-${r}.bin`,
      `scp-from-${r}.bin`,
      `raw-to-${r}.bin`,
      `raw-from-${r}.bin`,
      `work-to-${r}.bin`,
      `work-from-${r}.bin`,
    ])
      rmSync(join(dir, f), { force: true });
  }
  const med = (xs) => quantile(xs, 0.5);
  console.log(
    `server -> device: ratio scp/outpost ${(med(results.scpTo) / med(results.push)).toFixed(2)}x (goal >= 1.0)`,
  );
  console.log(
    `device -> server: ratio scp/outpost ${(med(results.scpFrom) / med(results.pull)).toFixed(2)}x (goal >= 1.0)`,
  );
  console.log(
    `ceiling: one plain TLS WebSocket hop (no protocol, no hashing, no second encryption) reaches ` +
      `${(med(results.scpTo) / med(results.rawTo)).toFixed(2)}x scp server -> device, ` +
      `${(med(results.scpFrom) / med(results.rawFrom)).toFixed(2)}x device -> server; ` +
      `Outpost reaches ${(med(results.rawTo) / med(results.push)).toFixed(2)}x / ${(med(results.rawFrom) / med(results.pull)).toFixed(2)}x of it`,
  );
  console.log(
    `ceiling with the required work (AES-256-GCM per chunk, MD5 + SHA-256 at both ends) on that hop: ` +
      `${(med(results.scpTo) / med(results.workTo)).toFixed(2)}x scp server -> device, ` +
      `${(med(results.scpFrom) / med(results.workFrom)).toFixed(2)}x device -> server; ` +
      `Outpost reaches ${(med(results.workTo) / med(results.push)).toFixed(2)}x / ${(med(results.workFrom) / med(results.pull)).toFixed(2)}x of it`,
  );
  const perGiB = (s) => (s / (MB / 1024)).toFixed(1);
  const last = (xs) => xs[xs.length - 1];
  for (const [dir, o, b] of [
    ["server -> device", "push", "scpTo"],
    ["device -> server", "pull", "scpFrom"],
  ]) {
    const x = last(cpuUse[o]);
    const y = last(cpuUse[b]);
    const split = (all, t) =>
      `main ${perGiB(t.main)} + busiest other thread ${perGiB(t.busiest)} + rest ${perGiB(all - t.main - t.busiest)}`;
    console.log(
      `CPU s per GiB, ${dir} (last round): outpost device+operator process ${perGiB(x.device)} (${split(x.device, x.deviceThreads)}), ` +
        `server ${perGiB(x.server)} (${split(x.server, x.serverThreads)}); scp+ssh ${perGiB(y.scp)}, sshd ${perGiB(y.sshd)}`,
    );
  }
  console.log(
    `service calls during push: p50 ${quantile(latencies, 0.5).toFixed(1)} ms, p99 ${quantile(latencies, 0.99).toFixed(1)} ms over ${latencies.length} calls`,
  );

  // --- where the time goes, each part alone over the same number of bytes (in 64 MiB samples, scaled)
  const sample = Math.min(BYTES, 64 * 1024 * 1024);
  const scale = BYTES / sample;
  const buf = randomBytes(CHUNK);
  const chunks = sample / CHUNK;
  const a = createKeyShare();
  const b = createKeyShare();
  const keys = deriveSessionKeys({
    label: "outpost-file-v1",
    sessionId: "bench",
    own: a,
    role: "initiator",
    initiatorPublic: a.publicKey,
    responderPublic: b.publicKey,
  });
  const part = (name, ms) =>
    console.log(
      `  ${name.padEnd(22)} ${(ms * scale).toFixed(0).padStart(6)} ms for ${MB} MiB (${(MB / ((ms * scale) / 1000)).toFixed(0)} MiB/s)`,
    );
  console.log("where the time goes (one core, this process):");
  let t0 = performance.now();
  for (let i = 0; i < chunks; i++) sealParts(keys.send, i, chunkAad("bench", i, chunks), buf);
  part("AES-256-GCM seal", performance.now() - t0); // as the transfer does it: not joined
  t0 = performance.now();
  const h1 = createHash("md5");
  const h2 = createHash("sha256");
  for (let i = 0; i < chunks; i++) {
    h1.update(buf);
    h2.update(buf);
  }
  h1.digest();
  h2.digest();
  part("MD5 + SHA-256", performance.now() - t0);
  // What the sender does per chunk: the record head made by hand, then the stream's data frames of
  // at most 64 KiB, each copying its slice of the chunk once.
  const { encodeFileChunkRecord } = await import("../../packages/protocol/dist/file-records.js");
  const { encodeStreamDataFrame } = await import("../../packages/protocol/dist/stream-frame.js");
  const SLICE = 64 * 1024 - 24;
  t0 = performance.now();
  for (let i = 0; i < chunks; i++) {
    const [head, body] = encodeFileChunkRecord(i, [buf]);
    const all = [head, body];
    const total = head.byteLength + body.byteLength;
    for (let at = 0, p = 0, off = 0; at < total;) {
      const parts = [];
      const n = Math.min(SLICE, total - at);
      for (let left = n; left > 0;) {
        const piece = all[p];
        const take = Math.min(piece.byteLength - off, left);
        parts.push(piece.subarray(off, off + take));
        off += take;
        left -= take;
        if (off === piece.byteLength) {
          p++;
          off = 0;
        }
      }
      encodeStreamDataFrame(1, parts, n, false);
      at += n;
    }
  }
  part("record + frame encoding", performance.now() - t0);
  t0 = performance.now();
  const wfd = openSync(join(dir, "io.bin"), "w");
  for (let i = 0; i < chunks; i++) writeSync(wfd, buf);
  fsyncSync(wfd);
  closeSync(wfd);
  part("disk write + fsync", performance.now() - t0);
  console.log("  (each end also reads the file, and TLS encrypts every byte once more per hop)");
} finally {
  for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => {});
  await stopAll(children);
  rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
}
