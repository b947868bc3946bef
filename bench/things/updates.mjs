// Property-update throughput: acknowledged property updates per second into a real
// `outpost-server serve` process, sent by @outpost/sdk EdgeClients (one per device, each its own
// mutual-TLS connection, certificate and application key; the SDK batches up to `batch` values per
// PropertyUpdate and the server acknowledges each batch after storing it), for 1 and 100 devices.
//
// Baseline, same run, same number of clients: the raw `ws` echo server (bench/lib/raw-wss-server.mjs)
// over the same mutual TLS; each client sends the same encoded bytes the SDK sends, one WebSocket
// message per batch (an encoded Envelope with a PropertyUpdate of `batch` values), keeps the same
// number of updates in flight (window ÷ batch messages) and counts `batch` updates per echo.
// The two sides alternate, A B A B, for `rounds` rounds per device count, so load on the machine
// falls on both alike. Printed: median updates/s of each, the median of the per-round ratios
// (outpost ÷ raw) and its range (min–max over rounds).
//
// Load: every millisecond each device's queue is topped up to `window` values (property "value",
// push "always"); acknowledged = set − still queued (queued includes in flight). CPU seconds of the
// server process and of this (client) process are printed so the saturated side is visible.
// `--rtt=<ms>` routes both sides through a TCP proxy in this process that holds every chunk for
// rtt/2 ms in each direction (bench/lib/delay-proxy.mjs), as a slow link would; with a round trip
// the number of batches in flight decides the rate (the SDK keeps several in flight when the server
// speaks "delivery-epoch", the baseline keeps window ÷ batch messages in flight).
//   node bench/things/updates.mjs [--seconds=2] [--rounds=3] [--devices=1,100] [--window=1000] [--batch=500] [--rtt=0]
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { encodeFrame } from "@outpost/protocol";
import { EdgeClient } from "@outpost/sdk";
import Database from "better-sqlite3";
import WebSocket from "ws";
import { cpuSecondsOf } from "../lib/child.mjs";
import { startDelayProxy } from "../lib/delay-proxy.mjs";
import { createFixture, mapLimit, sleep, startOutpostServer, startRawServer } from "../lib/outpost-fixture.mjs";

const WARMUP_MS = 1_000;

export function parseArgs(argv) {
  const get = (name, def) => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? def;
  return {
    seconds: Number(get("seconds", "2")),
    rounds: Number(get("rounds", "3")),
    devices: get("devices", "1,100").split(",").map(Number),
    window: Number(get("window", "1000")),
    batch: Number(get("batch", "500")),
    rtt: get("rtt", "0").split(",").map(Number),
  };
}

/** Bytes of one batch as the SDK puts it on the wire: an Envelope with a PropertyUpdate of `batch` values. */
function batchPayload(batch) {
  const now = Date.now();
  return encodeFrame({
    requestId: 1,
    propertyUpdate: {
      values: Array.from({ length: batch }, (_, i) => ({
        thing: "thing-0",
        name: "value",
        value: { numberValue: 1234.5 + i },
        timestampMs: now,
        seq: now * 1000 + i,
      })),
    },
  });
}

/** Waits out the warm-up, then measures `count()` per second over `ms` and the CPU used by both sides. */
async function timed(ms, serverPid, count) {
  await sleep(WARMUP_MS);
  const c0 = count();
  const s0 = await cpuSecondsOf(serverPid);
  const self0 = process.cpuUsage();
  const t0 = performance.now();
  await sleep(ms);
  const c1 = count();
  const elapsed = (performance.now() - t0) / 1000;
  const s1 = await cpuSecondsOf(serverPid);
  const self1 = process.cpuUsage(self0);
  return {
    rate: (c1 - c0) / elapsed,
    serverCpu: (s1 - s0) / elapsed,
    clientCpu: (self1.user + self1.system) / 1e6 / elapsed,
  };
}

/** `url` through a delay proxy of `rtt` ms round trip (none for 0); returns the url and the proxy's stop. */
async function throughDelay(url, rtt) {
  if (rtt <= 0) return { url, stop: async () => {} };
  const u = new URL(url);
  const proxy = await startDelayProxy(Number(u.port), rtt / 2);
  u.port = String(proxy.port);
  return { url: u.href.replace(/\/$/, ""), stop: proxy.stop };
}

export async function measureOutpost(fx, directUrl, serverPid, n, o, rtt) {
  const link = await throughDelay(directUrl, rtt);
  try {
    return await measureOutpostAt(fx, link.url, serverPid, n, o, rtt);
  } finally {
    await link.stop();
  }
}

async function measureOutpostAt(fx, edgeUrl, serverPid, n, o, rtt) {
  const devices = fx.devices.slice(0, n);
  const refused = [];
  const clients = devices.map((d) => {
    const client = new EdgeClient({
      url: edgeUrl,
      appKey: d.appKey,
      tls: { ca: fx.caPem, cert: d.certPem, key: fx.deviceKeyPem },
      reconnect: false,
      maxBatch: o.batch,
      queue: { maxItems: o.window * 2, overflow: "reject" },
    });
    client.on("error", (err) => refused.push(err));
    const thing = client.thing(d.thing);
    thing.property("value", { type: "number", push: "always" });
    return { client, thing, sent: 0 };
  });
  await mapLimit(clients, 20, (c) => c.client.connect());
  let value = 0;
  const tick = setInterval(() => {
    for (const c of clients) {
      for (let k = o.window - c.client.queueSize; k > 0; k--) {
        c.thing.set("value", value++);
        c.sent++;
      }
    }
  }, 1);
  const acked = () => clients.reduce((sum, c) => sum + c.sent - c.client.queueSize, 0);
  let left = 0;
  let result;
  try {
    result = await timed(o.seconds * 1000, serverPid, acked);
  } finally {
    clearInterval(tick);
    await Promise.all(
      clients.map((c) => c.client.flush({ signal: AbortSignal.timeout(10_000 + 20 * rtt) }).catch(() => {})),
    );
    left = clients.reduce((sum, c) => sum + c.client.queueSize, 0);
    await Promise.all(clients.map((c) => c.client.close({ timeoutMs: 2_000 })));
  }
  if (left > 0) throw new Error(`${left} updates were not acknowledged after the run`);
  if (refused.length > 0) throw new Error(`the server refused updates: ${refused[0].message}`);
  return result;
}

async function measureRaw(fx, raw, n, o, payload, rtt) {
  const link = await throughDelay(raw.url, rtt);
  try {
    return await measureRawAt(fx, link.url, raw.pid, n, o, payload);
  } finally {
    await link.stop();
  }
}

async function measureRawAt(fx, url, rawPid, n, o, payload) {
  const key = fx.deviceKeyPem;
  let echoed = 0;
  let running = true;
  const sockets = await mapLimit(fx.devices.slice(0, n), 20, (d) => {
    const ws = new WebSocket(url, { ca: fx.caPem, cert: d.certPem, key, perMessageDeflate: false });
    return new Promise((resolve, reject) => {
      ws.once("open", () => resolve(ws));
      ws.once("error", reject);
    });
  });
  for (const ws of sockets) {
    ws.on("message", () => {
      echoed += o.batch;
      if (running) ws.send(payload);
    });
    for (let i = 0; i < Math.max(1, Math.round(o.window / o.batch)); i++) ws.send(payload);
  }
  try {
    return await timed(o.seconds * 1000, rawPid, () => echoed);
  } finally {
    running = false;
    await Promise.all(
      sockets.map(
        (ws) =>
          new Promise((resolve) => {
            ws.once("close", resolve);
            ws.close();
          }),
      ),
    );
  }
}

const median = (xs) => {
  const s = [...xs].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
/** The round with the median rate (its CPU figures come with it). */
const medianBy = (results) => [...results].sort((x, y) => x.rate - y.rate)[Math.floor((results.length - 1) / 2)];

/**
 * The median time of one synced SQLite commit (WAL, synchronous = FULL, as the registry commits) of
 * a small upsert in `dir`, over `n` commits: the wait every acknowledgement includes.
 */
function syncedCommitMs(dir, n = 50) {
  const db = new Database(join(dir, "commit-probe.db"));
  try {
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = FULL");
    db.exec("CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY, v TEXT)");
    const put = db.prepare("INSERT OR REPLACE INTO t VALUES (?, ?)");
    const commit = db.transaction((i) => put.run(`k${i % 10}`, `v${i}`));
    const times = [];
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      commit(i);
      times.push(performance.now() - t);
    }
    return median(times);
  } finally {
    db.close();
  }
}

/** Runs every scenario; prints a report and returns its rows. */
export async function runUpdates(o = parseArgs([])) {
  const payload = batchPayload(o.batch);
  const loadBefore = loadavg()[0];
  const fx = await createFixture({ devices: Math.max(...o.devices) });
  const server = await startOutpostServer(fx.dir);
  const raw = await startRawServer(fx.paths);
  const rows = [];
  const commitMs = [];
  try {
    for (const rtt of o.rtt)
      for (const n of o.devices) {
        const outposts = [];
        const raws = [];
        const ratios = [];
        for (let r = 0; r < o.rounds; r++) {
          commitMs.push(syncedCommitMs(fx.dir));
          const outpost = await measureOutpost(fx, server.edgeUrl, server.pid, n, o, rtt);
          const baseline = await measureRaw(fx, raw, n, o, payload, rtt);
          outposts.push(outpost);
          raws.push(baseline);
          ratios.push(outpost.rate / baseline.rate);
        }
        rows.push({
          rtt,
          devices: n,
          outpost: medianBy(outposts),
          raw: medianBy(raws),
          ratio: median(ratios),
          lo: Math.min(...ratios),
          hi: Math.max(...ratios),
        });
      }
  } catch (err) {
    const tail = server.stderrTail();
    if (tail) console.error(`server stderr:\n${tail}`);
    throw err;
  } finally {
    await Promise.all([server.stop(), raw.stop()]);
    fx.remove();
  }
  const fmt = (x) => Math.round(x).toLocaleString("en-US");
  const cpu = (r) => `${r.serverCpu.toFixed(2)}/${r.clientCpu.toFixed(2)}`;
  const perUpdate = (r) => ((1e6 * r.serverCpu) / r.rate).toFixed(2);
  console.log(
    `property updates, node ${process.version}: batches of ${o.batch} (baseline message ${payload.byteLength} B, ` +
      `the same encoded PropertyUpdate), window ${o.window} updates in flight per client, ${o.rounds} alternating ` +
      `rounds of ${o.seconds} s per side after ${WARMUP_MS / 1000} s warm-up each, 127.0.0.1`,
  );
  console.log(
    `${"rtt ms".padEnd(8)}${"devices".padEnd(9)}${"outpost upd/s".padStart(15)}${"raw wss upd/s".padStart(15)}${"ratio".padStart(8)}` +
      `${"range".padStart(13)}` +
      `${"outpost cpu srv/cli".padStart(21)}${"raw cpu srv/cli".padStart(17)}${"srv us/upd outpost/raw".padStart(25)}`,
  );
  for (const r of rows) {
    console.log(
      `${String(r.rtt).padEnd(8)}${String(r.devices).padEnd(9)}${fmt(r.outpost.rate).padStart(15)}${fmt(r.raw.rate).padStart(15)}` +
        `${`${r.ratio.toFixed(2)}x`.padStart(8)}${`${r.lo.toFixed(2)}–${r.hi.toFixed(2)}x`.padStart(13)}` +
        `${cpu(r.outpost).padStart(21)}${cpu(r.raw).padStart(17)}` +
        `${`${perUpdate(r.outpost)}/${perUpdate(r.raw)}`.padStart(25)}`,
    );
  }
  console.log(
    "upd/s and cpu = median over rounds; ratio = median of per-round outpost ÷ raw (higher is better), range = min–max; " +
      "cpu = cores used by the server process / by this client process; srv us/upd = server CPU microseconds per update.",
  );
  const sync = median(commitMs);
  console.log(
    `synced commit (SQLite WAL, synchronous = FULL, in the server's data directory): median ${sync.toFixed(2)} ms. ` +
      `An update is acknowledged only after its commit, so one client with ${o.window} updates in flight gets at most ` +
      `${fmt((o.window * 1000) / sync)} upd/s at rtt 0` +
      (rows[0] ? ` (${((o.window * 1000) / sync / rows[0].raw.rate).toFixed(2)}x the first row's raw rate)` : "") +
      "; batches of several clients share a commit.",
  );
  console.log(
    `load average (1 min) ${loadBefore.toFixed(1)} at the start, ${loadavg()[0].toFixed(1)} at the end, ${cpus().length} CPUs`,
  );
  return rows;
}

const isMain = process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isMain) await runUpdates(parseArgs(process.argv.slice(2)));
