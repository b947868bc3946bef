// Event drain time: how long one device takes to deliver `events` events that were queued while it
// was offline to a real `outpost-server serve` process, acknowledged (`client.flush()` resolves).
// The client queues the events first, then connects; the clock runs from connect() to flush().
//
// `--rtt=<ms>` routes the connection through a TCP proxy in this process that holds every chunk
// for rtt/2 ms in each direction, so each request pays the round trip of a slow link (cellular
// ~200 ms) like it would in the field. Stop-and-wait delivery makes the drain time about
// requests × rtt on such a link.
//   node bench/things/events.mjs [--events=5000] [--rtt=0,50] [--batch=500]
import { createServer, connect } from "node:net";
import { EdgeClient } from "@outpost/sdk";
import { createFixture, sleep, startOutpostServer } from "../lib/outpost-fixture.mjs";

export function parseArgs(argv) {
  const get = (name, def) => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? def;
  return {
    events: Number(get("events", "5000")),
    rtt: get("rtt", "0,50").split(",").map(Number),
    batch: Number(get("batch", "500")),
  };
}

/** A TCP proxy to `port` that delays every chunk by `delayMs` in each direction, keeping order. */
async function startDelayProxy(port, delayMs) {
  const sockets = new Set();
  const pipe = (from, to) => {
    from.on("data", (chunk) => setTimeout(() => to.destroyed || to.write(chunk), delayMs));
    from.on("end", () => setTimeout(() => to.end(), delayMs));
    from.on("error", () => to.destroy());
    from.on("close", () => setTimeout(() => to.destroy(), delayMs));
  };
  const server = createServer((inbound) => {
    const outbound = connect(port, "127.0.0.1");
    sockets.add(inbound).add(outbound);
    pipe(inbound, outbound);
    pipe(outbound, inbound);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: server.address().port,
    stop: () => {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(resolve));
    },
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

/** Runs every scenario; prints a report and returns its rows. */
export async function runEvents(o = parseArgs([])) {
  const fx = await createFixture({ devices: 1 });
  const server = await startOutpostServer(fx.dir);
  const rows = [];
  try {
    for (const rtt of o.rtt) rows.push(await measure(fx, server.edgeUrl, rtt, o));
  } catch (err) {
    const tail = server.stderrTail();
    if (tail) console.error(`server stderr:\n${tail}`);
    throw err;
  } finally {
    await server.stop();
    fx.remove();
  }
  const fmt = (x) => Math.round(x).toLocaleString("en-US");
  console.log(
    `event drain, node ${process.version}: ${o.events} events queued offline on one device, SDK maxBatch ${o.batch}, ` +
      `time from connect() until flush() resolves, 127.0.0.1`,
  );
  console.log(`${"rtt ms".padEnd(8)}${"seconds".padStart(10)}${"events/s".padStart(12)}`);
  for (const r of rows) {
    console.log(`${String(r.rtt).padEnd(8)}${r.seconds.toFixed(2).padStart(10)}${fmt(r.rate).padStart(12)}`);
  }
  return rows;
}

const isMain = process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isMain) await runEvents(parseArgs(process.argv.slice(2)));
