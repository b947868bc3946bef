// EMS benchmarks, each against a baseline measured in the same run, rounds interleaved:
//  1. local API property sets/s over the Unix socket, one value per request (1 and 16 requests in
//     flight) and batches of 500 values, vs a bare Node HTTP server on the same kind of socket that
//     reads the body and answers 204;
//  2. durable queue (FileQueueStore, fsync "always") appends/s of one record vs a raw append of the
//     same bytes + fdatasync;
//  3. idle RSS of the daemon.
// The daemon runs offline (its server URL refuses connections), so what is measured is the local
// API and the durable queue, not the network. Short by default: 3 rounds of 2 s per measurement.
//   node bench/ems/run.mjs [--seconds=2] [--rounds=3]
import { spawnSync } from "node:child_process";
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { Agent, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileQueueStore } from "@outpost/sdk";
import { encodeRecord } from "../../packages/sdk/dist/queue/record-codec.js";
import { rssOf, spawnNode } from "../lib/child.mjs";
import { SERVER_CLI } from "../lib/outpost-fixture.mjs";

const arg = (name, dflt) => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? dflt);
const SECONDS = arg("seconds", 2);
const ROUNDS = arg("rounds", 3);
const root = join(import.meta.dirname, "..", "..");
const EMS = join(root, "packages", "ems", "dist", "bin.js");
const tmp = mkdtempSync(join(tmpdir(), "bench-ems-"));

function cli(bin, args) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

/** Sends requests with `inflight` in flight for `seconds`; returns requests/s. */
async function load(socketPath, method, path, body, inflight, seconds) {
  const agent = new Agent({ keepAlive: true, maxSockets: inflight, socketPath });
  const data = Buffer.from(JSON.stringify(body));
  const end = performance.now() + seconds * 1000;
  let done = 0;
  const one = () =>
    new Promise((resolve, reject) => {
      const req = request(
        {
          agent,
          socketPath,
          method,
          path,
          headers: { host: "localhost", "content-type": "application/json", "content-length": data.length },
        },
        (res) => {
          res.resume();
          res.on("end", () => (res.statusCode < 300 ? resolve() : reject(new Error(`status ${res.statusCode}`))));
        },
      );
      req.on("error", reject);
      req.end(data);
    });
  const started = performance.now();
  await Promise.all(
    Array.from({ length: inflight }, async () => {
      while (performance.now() < end) {
        await one();
        done += 1;
      }
    }),
  );
  agent.destroy();
  return done / ((performance.now() - started) / 1000);
}

async function main() {
  // A device identity made by the server's own CLI; the server itself is not started.
  const srv = join(tmp, "server");
  cli(SERVER_CLI, ["init", "--data", srv]);
  cli(SERVER_CLI, ["device", "add", "bench-ems", "--things", "bench", "--out", join(tmp, "bundle"), "--data", srv]);
  const dir = join(tmp, "ems");
  cli(EMS, ["init", "--dir", dir, "--bundle", join(tmp, "bundle"), "--url", "wss://127.0.0.1:1/"]);
  cli(EMS, [
    "config",
    "set",
    "things",
    JSON.stringify([{ name: "bench", properties: [{ name: "v", push: "always" }] }]),
    "--dir",
    dir,
  ]);
  cli(EMS, ["config", "set", "queue.maxBytes", String(2 ** 31), "--dir", dir]);

  const ems = spawnNode(
    [
      ...(process.env.BENCH_EMS_PROF ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_EMS_PROF}`] : []),
      EMS,
      "start",
      "--dir",
      dir,
    ],
    { quietStderr: true },
  );
  await ems.waitFor((m) => m.msg === "outpost-ems started");
  await new Promise((r) => setTimeout(r, 2000));
  const idleRss = await rssOf(ems.child.pid);
  const bare = spawnNode([join(import.meta.dirname, "bare-server.mjs"), join(tmp, "bare.sock")]);
  await bare.waitFor((m) => m.ready);
  const emsSock = join(dir, "run", "local.sock");
  const bareSock = join(tmp, "bare.sock");

  let n = 0;
  const single = () => ({ value: ++n });
  const batch = () => ({ updates: Array.from({ length: 500 }, () => ({ name: "v", value: ++n })) });
  const cases = [
    { name: "single, 1 in flight", body: single, inflight: 1, values: 1, path: "/things/bench/properties/v" },
    { name: "single, 16 in flight", body: single, inflight: 16, values: 1, path: "/things/bench/properties/v" },
    { name: "batch of 500, 1 in flight", body: batch, inflight: 1, values: 500, path: "/things/bench/properties" },
  ];
  const results = cases.map(() => ({ ems: [], bare: [] }));
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, c] of cases.entries()) {
      results[i].ems.push((await load(emsSock, "PUT", c.path, c.body(), c.inflight, SECONDS)) * c.values);
      results[i].bare.push((await load(bareSock, "PUT", c.path, c.body(), c.inflight, SECONDS)) * c.values);
    }
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  console.log(`local API property values/s (median of ${ROUNDS} rounds of ${SECONDS} s; EMS fsync "always", offline)`);
  for (const [i, c] of cases.entries()) {
    const e = median(results[i].ems);
    const b = median(results[i].bare);
    console.log(
      `  ${c.name.padEnd(26)} EMS ${e.toFixed(0).padStart(8)}   bare 204 server ${b.toFixed(0).padStart(8)}   ratio ${(e / b).toFixed(3)}`,
    );
  }
  console.log(`idle RSS of the daemon: ${(idleRss / 1024 / 1024).toFixed(1)} MB`);
  ems.child.kill(process.env.BENCH_EMS_STOP ?? "SIGKILL");
  bare.child.kill("SIGKILL");

  // Durable queue vs raw append + fdatasync of the same bytes.
  const item = (seq) => ({
    kind: "property",
    seq,
    thing: "bench",
    name: "v",
    value: { intValue: seq },
    timestampMs: Date.now(),
    quality: 0,
  });
  const storeRates = [];
  const rawRates = [];
  for (let round = 0; round < ROUNDS; round++) {
    const sdir = join(tmp, `store-${round}`);
    const store = new FileQueueStore({ dir: sdir });
    await store.open();
    let seq = 0;
    let end = performance.now() + SECONDS * 1000;
    let t0 = performance.now();
    while (performance.now() < end) await store.append([item(++seq)]);
    storeRates.push(seq / ((performance.now() - t0) / 1000));
    await store.close();
    const fd = openSync(join(tmp, `raw-${round}.log`), "a");
    let k = 0;
    end = performance.now() + SECONDS * 1000;
    t0 = performance.now();
    while (performance.now() < end) {
      writeSync(fd, encodeRecord(item(++k)));
      fdatasyncSync(fd);
    }
    rawRates.push(k / ((performance.now() - t0) / 1000));
    closeSync(fd);
  }
  const s = median(storeRates);
  const r = median(rawRates);
  console.log(
    `durable queue appends/s (1 record each, fsync always): FileQueueStore ${s.toFixed(0)}   raw write+fdatasync ${r.toFixed(0)}   ratio ${(s / r).toFixed(3)}`,
  );
}

try {
  await main();
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
