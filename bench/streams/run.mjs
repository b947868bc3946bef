// Stream benchmark: bulk throughput of one Outpost stream (SDK and server WebSocket transports, Channel, stream
// windows and scheduler) against raw `ws` binary messages over the same TLS on 127.0.0.1, measured
// in the same run, alternating A B A B. During each Outpost run a control request (an Event and its
// Response) goes out every 10 ms; the p99 of their round trips is printed. Run after `npm run build`:
//   node bench/streams/run.mjs [--mib=32] [--rounds=2] [--window=262144]
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Channel, DEFAULT_LIMITS } from "@outpost/protocol";
import { connectWebSocket } from "@outpost/sdk";
import { WsTransport } from "@outpost/server/internal";
import WebSocket, { WebSocketServer } from "ws";

const arg = (name, dflt) => {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  return a ? Number(a.slice(name.length + 3)) : dflt;
};
const MIB = 1024 * 1024;
const total = arg("mib", 32) * MIB;
const rounds = arg("rounds", 2);
const window = arg("window", DEFAULT_LIMITS.streamWindow);
const CHUNK = 64 * 1024;
const limits = { streamWindow: window, connectionWindow: Math.max(DEFAULT_LIMITS.connectionWindow, 4 * window) };

const dir = mkdtempSync(join(tmpdir(), "outpost-bench-streams-"));
execFileSync(
  "openssl",
  ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"].concat([
    "-keyout",
    "key.pem",
    "-out",
    "cert.pem",
    "-subj",
    "/CN=127.0.0.1",
    "-addext",
    "subjectAltName=IP:127.0.0.1",
  ]),
  { cwd: dir, stdio: "pipe" },
);
const cert = readFileSync(join(dir, "cert.pem"), "utf8");
const key = readFileSync(join(dir, "key.pem"), "utf8");
rmSync(dir, { recursive: true, force: true });

const https = createServer({ cert, key, minVersion: "TLSv1.2" });
const wss = new WebSocketServer({ server: https, perMessageDeflate: false, maxPayload: 2 * MIB });
wss.on("connection", (ws, req) => (req.url === "/raw" ? serveRaw(ws) : serveOutpost(ws)));
await new Promise((r) => https.listen(0, "127.0.0.1", r));
const base = `wss://127.0.0.1:${https.address().port}`;

/** Baseline sink: counts bytes, answers one byte once `total` have arrived. */
function serveRaw(ws) {
  let got = 0;
  ws.on("message", (data) => {
    got += data.byteLength;
    if (got >= total) ws.send(Uint8Array.of(1));
  });
}

/** Outpost sink: reads every stream to its end, answers every request. */
function serveOutpost(ws) {
  const channel = new Channel(new WsTransport(ws, { pingIntervalMs: 0 }), { limits });
  channel.setPeerLimits(limits);
  channel.enableStreams({
    side: "server",
    onStream: (stream) => {
      stream.onData(
        () => undefined,
        () => void stream.end(),
      );
    },
  });
  void (async () => {
    for await (const m of channel.messages) if (m.requestId) channel.respond(m.requestId, { status: 200 });
  })();
}

async function runRaw() {
  const ws = new WebSocket(`${base}/raw`, { ca: cert, perMessageDeflate: false });
  await new Promise((r, j) => (ws.once("open", r), ws.once("error", j)));
  const done = new Promise((r) => ws.once("message", r));
  const chunk = new Uint8Array(CHUNK).fill(7);
  const t0 = performance.now();
  for (let sent = 0; sent < total; sent += CHUNK) {
    // The same backpressure an application uses with ws: wait while 1 MiB is unsent.
    if (ws.bufferedAmount > MIB) await new Promise((r) => ws.send(chunk, r));
    else ws.send(chunk);
  }
  await done;
  const seconds = (performance.now() - t0) / 1000;
  ws.close();
  return { mbps: total / MIB / seconds };
}

async function runOutpost() {
  const transport = await connectWebSocket(`${base}/outpost`, { tls: { ca: cert }, pingIntervalMs: 0 });
  const channel = new Channel(transport, { limits });
  channel.setPeerLimits(limits);
  channel.enableStreams({ side: "device" });
  const stream = channel.openStream({ type: "bulk" });
  const chunk = new Uint8Array(CHUNK).fill(7);
  let writing = true;
  const latencies = [];
  const control = (async () => {
    for (let i = 0; writing && i < 100_000; i++) {
      const t = performance.now();
      await channel.request({ event: { thing: "bench", name: "tick", timestampMs: Date.now() } });
      latencies.push(performance.now() - t);
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  const t0 = performance.now();
  for (let sent = 0; sent < total; sent += CHUNK) await stream.write(chunk);
  await stream.end();
  // The sink ends its direction once it has read ours to the end: every byte has arrived.
  for await (const _ of stream);
  const seconds = (performance.now() - t0) / 1000;
  writing = false;
  await control;
  await channel.close();
  latencies.sort((a, b) => a - b);
  const p99 = latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * 0.99))] ?? NaN;
  return { mbps: total / MIB / seconds, p99, samples: latencies.length };
}

console.log(
  `bulk stream vs raw ws over TLS on 127.0.0.1: ${total / MIB} MiB per run, stream window ${window / 1024} KiB, ` +
    `connection window ${limits.connectionWindow / 1024} KiB, ${rounds} rounds (A = raw ws, B = Outpost stream)`,
);
const raw = [];
const outpost = [];
for (let r = 0; r < rounds; r++) {
  const a = await runRaw();
  raw.push(a.mbps);
  console.log(`  A raw ws          ${a.mbps.toFixed(1).padStart(7)} MiB/s`);
  const b = await runOutpost();
  outpost.push(b);
  console.log(
    `  B outpost stream  ${b.mbps.toFixed(1).padStart(7)} MiB/s   control round trip p99 ${b.p99.toFixed(1)} ms (${b.samples} requests)`,
  );
}
const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor((xs.length - 1) / 2)];
const ratio = median(outpost.map((b) => b.mbps)) / median(raw);
const p99 = Math.max(...outpost.map((b) => b.p99));
console.log(`ratio outpost/raw (medians): ${ratio.toFixed(2)}; worst control p99 during bulk: ${p99.toFixed(1)} ms`);
for (const c of wss.clients) c.terminate();
wss.close();
https.close();
