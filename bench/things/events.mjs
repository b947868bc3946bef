// Event drain time: how long one device takes to deliver `events` events that were queued while it
// was offline to a real `outpost-server serve` process, acknowledged (`client.flush()` resolves).
// The client queues the events first, then connects; the clock runs from connect() to flush().
//
// `--rtt=<ms>` routes the connection through a TCP proxy in this process that holds every chunk
// for rtt/2 ms in each direction, so each request pays the round trip of a slow link (cellular
// ~200 ms) like it would in the field. Stop-and-wait delivery makes the drain time about
// requests × rtt on such a link.
//
// Baseline, same run, same link: the same events as plain JSON over a raw `ws` connection to the
// echo server (bench/lib/raw-wss-server.mjs) with the same mutual TLS, through the same delay proxy,
// in the same batches (one JSON array of `batch` events per message), stop-and-wait like the SDK:
// the next batch goes when the previous one is echoed. The clock runs from opening the connection to
// the last echo. The sides alternate, A B A B, for `rounds` rounds per rtt; printed are the median
// seconds of each and the median of the per-round ratios (outpost events/s ÷ raw events/s) with its
// range (min–max over rounds).
//   node bench/things/events.mjs [--events=5000] [--rtt=0,50] [--batch=500] [--rounds=3]
import { EdgeClient } from "@outpost/sdk";
import WebSocket from "ws";
import { startDelayProxy } from "../lib/delay-proxy.mjs";
import { createFixture, sleep, startOutpostServer, startRawServer } from "../lib/outpost-fixture.mjs";

export function parseArgs(argv) {
  const get = (name, def) => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? def;
  return {
    events: Number(get("events", "5000")),
    rtt: get("rtt", "0,50").split(",").map(Number),
    batch: Number(get("batch", "500")),
    rounds: Number(get("rounds", "3")),
  };
}

async function measure(fx, edgeUrl, rtt, o) {
  const device = fx.devices[0];
  const url = new URL(edgeUrl);
  const proxy = rtt > 0 ? await startDelayProxy(Number(url.port), rtt / 2) : undefined;
  if (proxy) url.port = String(proxy.port);
  const refused = [];
  const client = new EdgeClient({
    url: url.href,
    appKey: device.appKey,
    tls: { ca: fx.caPem, cert: device.certPem, key: fx.deviceKeyPem },
    reconnect: false,
    maxBatch: o.batch,
    queue: { maxItems: o.events, overflow: "reject" },
  });
  client.on("error", (err) => refused.push(err));
  const thing = client.thing(device.thing);
  for (let i = 0; i < o.events; i++) thing.emit("tick", { i, level: 0.5 * i, label: "bench" });
  await sleep(100);
  try {
    const t0 = performance.now();
    await client.connect();
    await client.flush({ signal: AbortSignal.timeout(Math.max(120_000, o.events * rtt * 2)) });
    const seconds = (performance.now() - t0) / 1000;
    if (client.queueSize > 0) throw new Error(`${client.queueSize} events were not acknowledged`);
    if (refused.length > 0) throw new Error(`the server refused events: ${refused[0].message}`);
    return { rtt, seconds, rate: o.events / seconds };
  } finally {
    await client.close({ timeoutMs: 2_000 });
    await proxy?.stop();
  }
}

/** The same events as plain JSON, batched and stop-and-wait, over raw wss through the same kind of proxy. */
async function measureRaw(fx, raw, rtt, o) {
  const device = fx.devices[0];
  const url = new URL(raw.url);
  const proxy = rtt > 0 ? await startDelayProxy(Number(url.port), rtt / 2) : undefined;
  if (proxy) url.port = String(proxy.port);
  const events = Array.from({ length: o.events }, (_, i) => ({
    thing: device.thing,
    event: "tick",
    data: { i, level: 0.5 * i, label: "bench" },
    timestampMs: Date.now(),
  }));
  await sleep(100);
  let ws;
  try {
    const t0 = performance.now();
    ws = new WebSocket(url.href, {
      ca: fx.caPem,
      cert: device.certPem,
      key: fx.deviceKeyPem,
      perMessageDeflate: false,
    });
    await new Promise((resolve, reject) => {
      ws.once("open", resolve);
      ws.once("error", reject);
    });
    for (let at = 0; at < events.length; at += o.batch) {
      const echoed = new Promise((resolve) => ws.once("message", resolve));
      ws.send(JSON.stringify(events.slice(at, at + o.batch)));
      await echoed;
    }
    const seconds = (performance.now() - t0) / 1000;
    return { rtt, seconds, rate: o.events / seconds };
  } finally {
    if (ws) {
      const closed = new Promise((resolve) => ws.once("close", resolve));
      ws.close();
      await closed;
    }
    await proxy?.stop();
  }
}

const median = (xs) => {
  const s = [...xs].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Runs every scenario; prints a report and returns its rows. */
export async function runEvents(o = parseArgs([])) {
  const fx = await createFixture({ devices: 1 });
  const server = await startOutpostServer(fx.dir);
  const raw = await startRawServer(fx.paths);
  const rows = [];
  try {
    for (const rtt of o.rtt) {
      const outposts = [];
      const raws = [];
      const ratios = [];
      for (let r = 0; r < o.rounds; r++) {
        const outpost = await measure(fx, server.edgeUrl, rtt, o);
        const baseline = await measureRaw(fx, raw, rtt, o);
        outposts.push(outpost.seconds);
        raws.push(baseline.seconds);
        ratios.push(outpost.rate / baseline.rate);
      }
      const seconds = median(outposts);
      const rawSeconds = median(raws);
      rows.push({
        rtt,
        seconds,
        rate: o.events / seconds,
        rawSeconds,
        rawRate: o.events / rawSeconds,
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
  console.log(
    `event drain, node ${process.version}: ${o.events} events queued offline on one device, batches of ${o.batch}, ` +
      `time from connect() until flush() resolves, 127.0.0.1`,
  );
  console.log(
    `${"rtt ms".padEnd(8)}${"outpost s".padStart(11)}${"events/s".padStart(10)}${"raw JSON s".padStart(12)}` +
      `${"events/s".padStart(10)}${"ratio".padStart(8)}${"range".padStart(13)}`,
  );
  for (const r of rows) {
    console.log(
      `${String(r.rtt).padEnd(8)}${r.seconds.toFixed(2).padStart(11)}${fmt(r.rate).padStart(10)}` +
        `${r.rawSeconds.toFixed(2).padStart(12)}${fmt(r.rawRate).padStart(10)}${`${r.ratio.toFixed(2)}x`.padStart(8)}` +
        `${`${r.lo.toFixed(2)}–${r.hi.toFixed(2)}x`.padStart(13)}`,
    );
  }
  console.log(
    `seconds = median over ${o.rounds} alternating rounds; ratio = median of per-round outpost events/s ÷ raw ` +
      "events/s (higher is better), range = min–max; raw = the same events as JSON arrays of the same batch size " +
      "over raw wss, same TLS, same link.",
  );
  return rows;
}

const isMain = process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isMain) await runEvents(parseArgs(process.argv.slice(2)));
