// Things benchmarks: property-update throughput (updates.mjs) and idle memory per connected device
// (idle-memory.mjs), each against the raw `ws` echo server over the same mutual TLS measured in the
// same run; prints both reports and a summary table of the ratios. About 1 minute on 2 cores.
//   node bench/things/run.mjs [--seconds=2] [--devices=1000]
import { runIdleMemory } from "./idle-memory.mjs";
import { parseArgs as updateArgs, runUpdates } from "./updates.mjs";

const argv = process.argv.slice(2);
const seconds = argv.find((a) => a.startsWith("--seconds="));
const devices = argv.find((a) => a.startsWith("--devices="));

const updates = await runUpdates(updateArgs(seconds ? [seconds] : []));
console.log();
const memory = await runIdleMemory({ devices: devices ? Number(devices.slice(10)) : 1000 });

const fmt = (x) => Math.round(x).toLocaleString("en-US");
console.log();
console.log("summary (things)");
console.log(`${"measurement".padEnd(34)}${"outpost".padStart(14)}${"raw wss".padStart(14)}${"ratio".padStart(8)}`);
for (const r of updates) {
  const name = `updates/s, ${r.devices} device${r.devices === 1 ? "" : "s"}`;
  console.log(
    `${name.padEnd(34)}${fmt(r.outpost.rate).padStart(14)}${fmt(r.raw.rate).padStart(14)}${`${r.ratio.toFixed(2)}x`.padStart(8)}`,
  );
}
const kb = (b) => `${(b / 1024).toFixed(1)} KB`;
console.log(
  `${`server RSS/idle conn, ${memory.devices} devices`.padEnd(34)}${kb(memory.outpost.perConnection).padStart(14)}` +
    `${kb(memory.raw.perConnection).padStart(14)}${`${memory.ratio.toFixed(2)}x`.padStart(8)}`,
);
console.log("updates: higher is better; memory: lower is better.");
