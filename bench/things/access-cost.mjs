// What the access model costs on the update path: acknowledged property updates per second into
// the same server code (startServer, in a child process: bench/things/access-server.mjs), A with
// the access model deciding every batch, B with a registry whose can() and visible() allow
// everything. Both servers run at once on one data directory; the clients and the load are those
// of updates.mjs (its measureOutpost), and the sides alternate A B, B A, ... per round so that load
// on the machine falls on both alike. The model is not trivial: an organization with units and
// visibility of every device and Thing, groups, and entries at every level that apply to the
// devices' updates. Printed: median updates/s of each, the median of the per-round ratios
// model ÷ allow with its range, server CPU microseconds per update of each, the load average.
//   node bench/things/access-cost.mjs [--seconds=2] [--rounds=4] [--devices=1,100] [--baseline=allow|model]
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { spawnNode } from "../lib/child.mjs";
import { createFixture, stopChild } from "../lib/outpost-fixture.mjs";
import { addModel } from "./access-model.mjs";
import { measureOutpost, parseArgs } from "./updates.mjs";

const SERVER = join(fileURLToPath(new URL(".", import.meta.url)), "access-server.mjs");

async function startServer(dataDir, mode) {
  const { child, waitFor, stderrTail } = spawnNode([SERVER, dataDir, mode], { quietStderr: true });
  const { edgeUrl } = await waitFor((m) => typeof m.edgeUrl === "string");
  return { pid: child.pid, edgeUrl, stderrTail, stop: () => stopChild(child) };
}

const median = (xs) => {
  const s = [...xs].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const argv = process.argv.slice(2);
const o = parseArgs(argv.some((a) => a.startsWith("--rounds=")) ? argv : [...argv, "--rounds=4"]);
const loadBefore = loadavg()[0];
const fx = await createFixture({ devices: Math.max(...o.devices) });
addModel(fx.paths.registry, fx.devices);
// --baseline=model runs the model on both sides (an A/A run: the spread that is noise alone).
const baseline = argv.includes("--baseline=model") ? "model" : "allow";
const servers = { model: await startServer(fx.dir, "model"), allow: await startServer(fx.dir, baseline) };
const rows = [];
try {
  for (const n of o.devices) {
    const results = { model: [], allow: [] };
    const ratios = [];
    for (let r = 0; r < o.rounds; r++) {
      const order = r % 2 === 0 ? ["model", "allow"] : ["allow", "model"];
      const got = {};
      for (const side of order) {
        got[side] = await measureOutpost(fx, servers[side].edgeUrl, servers[side].pid, n, o, 0);
        results[side].push(got[side]);
      }
      ratios.push(got.model.rate / got.allow.rate);
    }
    rows.push({ n, results, ratio: median(ratios), lo: Math.min(...ratios), hi: Math.max(...ratios) });
  }
} catch (err) {
  for (const s of Object.values(servers)) if (s.stderrTail()) console.error(`server stderr:\n${s.stderrTail()}`);
  throw err;
} finally {
  await Promise.all(Object.values(servers).map((s) => s.stop()));
  fx.remove();
}
const fmt = (x) => Math.round(x).toLocaleString("en-US");
const us = (rs) => median(rs.map((r) => (1e6 * r.serverCpu) / r.rate)).toFixed(2);
console.log(
  `access model on the update path, node ${process.version}: batches of ${o.batch}, window ${o.window}, ` +
    `${o.rounds} rounds of ${o.seconds} s per side (alternating order) after 1 s warm-up each, 127.0.0.1`,
);
console.log(
  `${"devices".padEnd(9)}${"model upd/s".padStart(13)}${"allow upd/s".padStart(13)}${"ratio".padStart(8)}` +
    `${"range".padStart(13)}${"srv us/upd model/allow".padStart(25)}`,
);
for (const r of rows) {
  console.log(
    `${String(r.n).padEnd(9)}${fmt(median(r.results.model.map((x) => x.rate))).padStart(13)}` +
      `${fmt(median(r.results.allow.map((x) => x.rate))).padStart(13)}${`${r.ratio.toFixed(2)}x`.padStart(8)}` +
      `${`${r.lo.toFixed(2)}–${r.hi.toFixed(2)}x`.padStart(13)}${`${us(r.results.model)}/${us(r.results.allow)}`.padStart(25)}`,
  );
}
console.log("ratio = median of per-round model ÷ allow (1.00x: the model costs nothing; higher is better)");
console.log(
  `load average (1 min) ${loadBefore.toFixed(1)} at the start, ${loadavg()[0].toFixed(1)} at the end, ${cpus().length} CPUs`,
);
