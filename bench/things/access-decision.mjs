// The access check's share of the server's work per update batch, measured on the server's own
// registry code in one process, A and B interleaved (like bench/fleet/revalidation.mjs):
//   A (Outpost): what the edge does for one device batch (edge/handlers/sequenced-batch.ts): the
//     permission decision once per (Thing, name) in the batch — Registry.can(device, thing,
//     "property.write", name), the call of edge/handlers/permit.ts — then, in one registry
//     transaction, the last value of each (Thing, name) and the batch's delivery record.
//   B (baseline, a trivial allow): the same without the decision.
// Two batch shapes of `--batch` (500) updates: "one name" (every update sets property `value`,
// as bench/things/updates.mjs sends: one decision per batch) and "all distinct" (500 different
// names: one decision per update, the worst case). The denominator leaves out TLS, WebSocket
// framing, decoding and the per-item loop, so the share printed is an upper bound of the loss.
// Also printed: one decision from the cache, and one after the model changed (snapshot reload).
//   node bench/things/access-decision.mjs [--devices 100] [--batch 500] [--rounds 10] [--batches 200]
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteRegistry } from "@outpost/server";
import { addModel } from "./access-model.mjs";

const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? def : Number(process.argv[i + 1]);
};
const deviceCount = arg("devices", 100);
const batch = arg("batch", 500);
const rounds = arg("rounds", 10);
const batches = arg("batches", 200);

const loadBefore = loadavg()[0];
const dir = mkdtempSync(join(tmpdir(), "outpost-access-decision-"));
const path = join(dir, "registry.db");
const devices = Array.from({ length: deviceCount }, (_, i) => ({ id: `dev-${i}`, thing: `thing-${i}` }));
const setup = new SqliteRegistry(path);
setup.transaction(() => {
  for (const d of devices) {
    setup.createDevice(d.id);
    setup.assignThing(d.thing, d.id);
  }
});
setup.close();
addModel(path, devices);
const registry = new SqliteRegistry(path);

const shapes = {
  "one name": Array.from({ length: batch }, () => "value"),
  "all distinct": Array.from({ length: batch }, (_, i) => `p${i}`),
};
let next = 0;
let seq = 0;

/** One device batch of `names`; with `decide`, the permission decision per distinct name. */
function batchOf(names, decide) {
  const d = devices[next++ % devices.length];
  const principal = { kind: "device", id: d.id };
  const distinct = new Set(names);
  if (decide) {
    for (const name of distinct) {
      if (!registry.can(principal, d.thing, "property.write", name)) throw new Error(`refused ${d.thing}/${name}`);
    }
  }
  const now = Date.now();
  const states = [...distinct].map((name) => ({
    thing: d.thing,
    name,
    value: seq,
    timestampMs: now,
    quality: "good",
    receivedAt: now,
  }));
  seq += names.length;
  registry.transaction(() => {
    registry.setProperties(states);
    registry.setDelivery(d.id, 1, { base: seq, runs: [] });
  });
}

/** CPU microseconds (user + system) per call of `fn` over `n` calls. */
const cpuOf = (fn, n) => {
  const start = process.cpuUsage();
  for (let i = 0; i < n; i++) fn();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / n;
};
const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];

const rows = [];
try {
  for (const [shape, names] of Object.entries(shapes)) {
    for (let i = 0; i < 20; i++) {
      batchOf(names, true);
      batchOf(names, false);
    }
    const a = [];
    const b = [];
    for (let r = 0; r < rounds; r++) {
      // Alternate which goes first, so drift in machine load does not favour one side.
      const withModel = () => a.push(cpuOf(() => batchOf(names, true), batches));
      const allow = () => b.push(cpuOf(() => batchOf(names, false), batches));
      if (r % 2 === 0) {
        withModel();
        allow();
      } else {
        allow();
        withModel();
      }
    }
    const ratios = a.map((x, i) => b[i] / x);
    rows.push({
      shape,
      a: median(a),
      b: median(b),
      ratio: median(ratios),
      lo: Math.min(...ratios),
      hi: Math.max(...ratios),
    });
  }
  const principal = { kind: "device", id: devices[0].id };
  const hit = cpuOf(() => registry.can(principal, devices[0].thing, "property.write", "value"), 100_000);
  const miss = cpuOf(() => {
    registry.access.changed();
    registry.can(principal, devices[0].thing, "property.write", "value");
  }, 50);

  console.log(
    `access decision on the update path, node ${process.version}: ${deviceCount} devices, batches of ${batch}, ` +
      `${rounds} interleaved rounds of ${batches} batches per side`,
  );
  console.log(
    `${"batch".padEnd(14)}${"model us/batch".padStart(16)}${"allow us/batch".padStart(16)}${"ratio".padStart(8)}${"range".padStart(13)}${"loss".padStart(8)}`,
  );
  for (const r of rows) {
    console.log(
      `${r.shape.padEnd(14)}${r.a.toFixed(1).padStart(16)}${r.b.toFixed(1).padStart(16)}${`${r.ratio.toFixed(3)}x`.padStart(8)}` +
        `${`${r.lo.toFixed(2)}–${r.hi.toFixed(2)}x`.padStart(13)}${`${((1 - r.ratio) * 100).toFixed(1)} %`.padStart(8)}`,
    );
  }
  console.log(
    "ratio = median of per-round (allow CPU ÷ model CPU) per batch = model throughput ÷ allow throughput; loss = 1 − ratio",
  );
  console.log(
    `one decision: ${hit.toFixed(2)} us from the cache, ${(miss / 1000).toFixed(2)} ms after a model change (snapshot of ${deviceCount} devices reloaded)`,
  );
  console.log(
    `load average (1 min) ${loadBefore.toFixed(1)} at the start, ${loadavg()[0].toFixed(1)} at the end, ${cpus().length} CPUs`,
  );
} finally {
  registry.close();
  rmSync(dir, { recursive: true, force: true });
}
