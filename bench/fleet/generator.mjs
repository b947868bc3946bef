// One load generator of bench/fleet/run.mjs: a process holding a slice of the fleet as real
// @outpost/sdk EdgeClients (default reconnect policy, each with its own certificate, application
// key and Thing), each connecting from its own loopback source address.
//   node generator.mjs <slice.json>
// slice.json: { url, caPem, keyPem, concurrency, resumeSessions, devices: [{ id, thing, appKey, certPem, localAddress }] }
// Prints one JSON line on stdout every 250 ms: { connected, attempts, failures, reasons, cpuS } (cpuS:
// this process's CPU seconds, user + system; failures
// are attempts that ended without a connection; reasons counts them by error code and message), then connects clients `concurrency` at a time. Reads
// "close" on stdin: closes every client and exits.
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { EdgeClient, silentLogger } from "@outpost/sdk";

const slice = JSON.parse(readFileSync(process.argv[2], "utf8"));
let connected = 0;
let attempts = 0;
let failures = 0;
/** Failed attempts by the error's code and first words, to tell refusals from timeouts. */
const reasons = {};
const clients = [];

function report() {
  const { user, system } = process.cpuUsage();
  const cpuS = (user + system) / 1e6;
  process.stdout.write(`${JSON.stringify({ connected, attempts, failures, reasons, cpuS })}\n`);
}
const ticker = setInterval(report, 250);

for (const d of slice.devices) {
  const client = new EdgeClient({
    url: slice.url,
    appKey: d.appKey,
    tls: { ca: slice.caPem, cert: d.certPem, key: slice.keyPem, resumeSessions: slice.resumeSessions },
    localAddress: d.localAddress,
    logger: silentLogger,
  });
  client.thing(d.thing).property("value", { type: "number", initial: 1 });
  let up = false;
  let trying = false;
  client.on("status", (s) => {
    if (s.type === "disconnected" && trying) {
      failures += 1;
      const reason = `${s.error?.code ?? s.error?.name ?? "?"}: ${String(s.error?.message ?? "")
        .split(/[:(]/)[0]
        .slice(0, 60)}`;
      reasons[reason] = (reasons[reason] ?? 0) + 1;
    }
    trying = s.type === "connecting";
    if (trying) attempts += 1;
    if (s.type === "connected" && !up) {
      up = true;
      connected += 1;
    } else if (s.type !== "connected" && up) {
      up = false;
      connected -= 1;
    }
  });
  client.on("error", () => undefined);
  clients.push(client);
}

let next = 0;
async function worker() {
  while (next < clients.length) {
    const client = clients[next++];
    await client.connect().catch(() => undefined);
  }
}
void Promise.all(Array.from({ length: Math.min(slice.concurrency, clients.length) }, worker));

createInterface({ input: process.stdin }).on("line", async (line) => {
  if (line.trim() !== "close") return;
  clearInterval(ticker);
  const all = [...clients];
  let i = 0;
  await Promise.all(
    Array.from({ length: 100 }, async () => {
      while (i < all.length) await all[i++].close({ flush: false, timeoutMs: 2_000 }).catch(() => undefined);
    }),
  );
  process.exit(0);
});
