// Idle memory per connected device: resident set size (VmRSS from /proc) of a real
// `outpost-server serve` process before and after N @outpost/sdk EdgeClients have connected,
// authenticated and bound one Thing each (all clients live in this process; each has its own
// certificate, application key and mutual-TLS connection), divided by N.
//
// Baseline, same run: the raw `ws` echo server (bench/lib/raw-wss-server.mjs) over the same mutual
// TLS with N idle `ws` clients using the same device certificates, measured the same way.
// Ratio = outpost KB per connection ÷ raw KB per connection.
//
// Both servers run with --expose-gc; before each reading they do a full GC (the Outpost server
// through bench/lib/gc-hook.mjs on SIGUSR2) and the reading is taken twice, 1 s apart, keeping the
// second. Each server first serves one warm-up connection (opened and closed, not counted) so
// lazily loaded code is not charged to the N connections.
//   node bench/things/idle-memory.mjs [--devices=1000]
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { EdgeClient } from "@outpost/sdk";
import WebSocket from "ws";
import { rssOf } from "../lib/child.mjs";
import { createFixture, mapLimit, sleep, startOutpostServer, startRawServer } from "../lib/outpost-fixture.mjs";

const CONNECT_CONCURRENCY = 32;

export function parseArgs(argv) {
  const arg = argv.find((a) => a.startsWith("--devices"));
  const value = arg?.includes("=") ? arg.split("=")[1] : arg ? argv[argv.indexOf(arg) + 1] : undefined;
  return { devices: Number(value ?? 1000) };
}

/** Open-file limits of this process, from /proc/self/limits. */
function fileLimits() {
  const line = readFileSync("/proc/self/limits", "utf8")
    .split("\n")
    .find((l) => l.startsWith("Max open files"));
  const [soft, hard] = line.trim().split(/\s+/).slice(3, 5);
  return { soft: Number(soft) || Infinity, hard: Number(hard) || Infinity };
}

/**
 * Node cannot raise RLIMIT_NOFILE itself: when the soft limit is too low but the hard one allows
 * it, the script re-runs itself under `ulimit -n`; otherwise it stops with a clear error.
 */
function ensureFileLimit(needed) {
  const { soft, hard } = fileLimits();
  if (soft >= needed) return;
  if (hard < needed || process.env.OUTPOST_BENCH_ULIMIT_RAISED) {
    throw new Error(
      `open-file limit too low: ${soft} (hard ${hard}), need ${needed} for this many devices; ` +
        `run "ulimit -n ${needed}" first (as root if the hard limit is lower) or pass a smaller --devices`,
    );
  }
  console.log(`raising the open-file limit from ${soft} to ${needed} (ulimit -n) and re-running`);
  const quoted = [process.execPath, ...process.argv.slice(1)].map((a) => `'${a.replaceAll("'", "'\\''")}'`);
  const r = spawnSync("sh", ["-c", `ulimit -n ${needed} && exec ${quoted.join(" ")}`], {
    stdio: "inherit",
    env: { ...process.env, OUTPOST_BENCH_ULIMIT_RAISED: "1" },
  });
  process.exit(r.status ?? 1);
}

/** Full GC in the server, then two readings 1 s apart; the second one counts. Also JS heap and external. */
async function settled(server) {
  let rss = 0;
  let report;
  for (let i = 0; i < 2; i++) {
    report = await server.gc();
    await sleep(1_000);
    rss = await rssOf(server.pid);
  }
  return { rss, heap: report.heapUsed + report.external };
}

function outpostClient(fx, edgeUrl, d) {
  const client = new EdgeClient({
    url: edgeUrl,
    appKey: d.appKey,
    tls: { ca: fx.caPem, cert: d.certPem, key: fx.deviceKeyPem },
    reconnect: false,
  });
  client.thing(d.thing).property("value", { type: "number", initial: 1 });
  return client;
}

async function measureOutpost(fx, n) {
  const server = await startOutpostServer(fx.dir);
  const clients = [];
  try {
    const warm = outpostClient(fx, server.edgeUrl, fx.devices[n]);
    await warm.connect();
    await warm.close();
    const before = await settled(server);
    const t0 = performance.now();
    await mapLimit(fx.devices.slice(0, n), CONNECT_CONCURRENCY, async (d) => {
      const client = outpostClient(fx, server.edgeUrl, d);
      clients.push(client);
      await client.connect();
    });
    const connectSeconds = (performance.now() - t0) / 1000;
    const connected = clients.filter((c) => c.status.type === "connected").length;
    if (connected !== n) throw new Error(`only ${connected} of ${n} devices are connected`);
    const after = await settled(server);
    return {
      before: before.rss,
      after: after.rss,
      perConnection: (after.rss - before.rss) / n,
      heapPerConnection: (after.heap - before.heap) / n,
      connectSeconds,
    };
  } catch (err) {
    const tail = server.stderrTail();
    if (tail) console.error(`server stderr:\n${tail}`);
    throw err;
  } finally {
    await mapLimit(clients, 100, (c) => c.close({ flush: false, timeoutMs: 2_000 }));
    await server.stop();
  }
}

function rawClient(fx, url, d) {
  const ws = new WebSocket(url, { ca: fx.caPem, cert: d.certPem, key: fx.deviceKeyPem, perMessageDeflate: false });
  return new Promise((resolve, reject) => {
    ws.once("open", () => resolve(ws));
    ws.once("error", reject);
  });
}

function closeRaw(ws) {
  return new Promise((resolve) => {
    if (ws.readyState === WebSocket.CLOSED) return resolve();
    ws.once("close", resolve);
    ws.close();
  });
}

async function measureRaw(fx, n) {
  const raw = await startRawServer(fx.paths);
  const sockets = [];
  const rss = async () => {
    for (let i = 0; i < 2; i++) {
      await raw.gc();
      await sleep(1_000);
    }
    return rssOf(raw.pid);
  };
  try {
    await closeRaw(await rawClient(fx, raw.url, fx.devices[n]));
    const before = await rss();
    const t0 = performance.now();
    await mapLimit(fx.devices.slice(0, n), CONNECT_CONCURRENCY, async (d) => {
      sockets.push(await rawClient(fx, raw.url, d));
    });
    const connectSeconds = (performance.now() - t0) / 1000;
    const report = await raw.gc();
    if (report.clients !== n) throw new Error(`raw server sees ${report.clients} of ${n} clients`);
    const after = await rss();
    return { before, after, perConnection: (after - before) / n, connectSeconds };
  } finally {
    await Promise.all(sockets.map(closeRaw));
    await raw.stop();
  }
}

/** Runs both measurements; prints a report and returns the results. */
export async function runIdleMemory(o = parseArgs([])) {
  const n = o.devices;
  if (!Number.isSafeInteger(n) || n < 1) throw new Error("--devices must be a positive integer");
  ensureFileLimit(2 * n + 256);
  const fx = await createFixture({ devices: n + 1 });
  let outpost;
  let raw;
  try {
    outpost = await measureOutpost(fx, n);
    raw = await measureRaw(fx, n);
  } finally {
    fx.remove();
  }
  const kb = (bytes) => (bytes / 1024).toFixed(1);
  const mb = (bytes) => (bytes / 1024 / 1024).toFixed(1);
  const ratio = outpost.perConnection / raw.perConnection;
  console.log(
    `idle memory, node ${process.version}: ${n} idle devices, server RSS (VmRSS) after full GC, ` +
      "before and after the devices connect, 127.0.0.1",
  );
  console.log(
    `${"server".padEnd(22)}${"RSS before MB".padStart(14)}${"RSS after MB".padStart(14)}` +
      `${"KB/connection".padStart(15)}${"connect s".padStart(11)}`,
  );
  for (const [name, r] of [
    ["outpost (auth+bind)", outpost],
    ["raw wss (mutual TLS)", raw],
  ]) {
    console.log(
      `${name.padEnd(22)}${mb(r.before).padStart(14)}${mb(r.after).padStart(14)}` +
        `${kb(r.perConnection).padStart(15)}${r.connectSeconds.toFixed(1).padStart(11)}`,
    );
  }
  console.log(`ratio outpost ÷ raw: ${ratio.toFixed(2)}x (lower is better)`);
  console.log(`of the outpost KB/connection, JS heap + external: ${kb(outpost.heapPerConnection)} KB`);
  return { devices: n, outpost, raw, ratio };
}

const isMain = process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isMain) await runIdleMemory(parseArgs(process.argv.slice(2)));
