// Summarizes a V8 CPU profile (.cpuprofile, e.g. from BENCH_SERVER_NODE_ARGS="--cpu-prof
// --cpu-prof-dir=<dir>"): the functions with the most self time and the most inclusive time, as a
// share of the busy (non-idle) samples, so the idle time of a server waiting for its clients does
// not dilute the shares.
//   node bench/lib/cpu-profile-top.mjs <file.cpuprofile> [--top=25]
import { readFileSync } from "node:fs";

const [file] = process.argv.slice(2).filter((a) => !a.startsWith("--"));
const top = Number(process.argv.find((a) => a.startsWith("--top="))?.slice(6) ?? 25);
if (!file) {
  console.error("usage: node bench/lib/cpu-profile-top.mjs <file.cpuprofile> [--top=25]");
  process.exit(2);
}
const profile = JSON.parse(readFileSync(file, "utf8"));
const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const label = (n) => {
  const f = n.callFrame;
  const where = f.url ? `${f.url.split("/").slice(-2).join("/")}:${f.lineNumber + 1}` : "";
  return `${f.functionName || "(anonymous)"} ${where}`.trim();
};

const timeOf = new Map();
for (let i = 0; i < profile.samples.length; i++) {
  const id = profile.samples[i];
  timeOf.set(id, (timeOf.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
}
const self = new Map();
const inclusive = new Map();
let busy = 0;
let idle = 0;
for (const [id, t] of timeOf) {
  const node = nodes.get(id);
  if (node.callFrame.functionName === "(idle)") {
    idle += t;
    continue;
  }
  busy += t;
  const own = label(node);
  self.set(own, (self.get(own) ?? 0) + t);
  const seen = new Set();
  for (let at = id; at !== undefined; at = parent.get(at)) {
    const name = label(nodes.get(at));
    if (name.startsWith("(root)") || seen.has(name)) continue;
    seen.add(name);
    inclusive.set(name, (inclusive.get(name) ?? 0) + t);
  }
}
const rows = (m) =>
  [...m]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(
      ([name, t]) => `${((100 * t) / busy).toFixed(1).padStart(6)} %  ${(t / 1000).toFixed(0).padStart(7)} ms  ${name}`,
    )
    .join("\n");
console.log(`busy ${(busy / 1e6).toFixed(2)} s, idle ${(idle / 1e6).toFixed(2)} s; shares are of the busy time`);
console.log(`self time, top ${top}:\n${rows(self)}`);
console.log(`inclusive time, top ${top}:\n${rows(inclusive)}`);
