// Runs every benchmark (bench/*/run.mjs) in turn with inherited stdio and exits non-zero if any
// of them fails. Extra arguments are passed to each benchmark. `npm run bench` runs this.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const benchDir = join(root, "bench");
const runs = readdirSync(benchDir, { withFileTypes: true })
  .filter((e) => e.isDirectory() && existsSync(join(benchDir, e.name, "run.mjs")))
  .map((e) => e.name)
  .sort();

const failed = [];
const started = Date.now();
for (const name of runs) {
  console.log(`\n=== bench/${name}/run.mjs`);
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [join(benchDir, name, "run.mjs"), ...process.argv.slice(2)], {
    cwd: root,
    stdio: "inherit",
  });
  const status = r.status ?? 1;
  console.log(
    `=== bench/${name}: ${status === 0 ? "ok" : `FAILED (${r.signal ?? `exit ${status}`})`} in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
  );
  if (status !== 0) failed.push(name);
}
console.log(
  `\n${runs.length - failed.length} of ${runs.length} benchmarks ran in ${((Date.now() - started) / 1000).toFixed(0)} s`,
);
if (failed.length > 0) {
  console.error(`failed: ${failed.join(", ")}`);
  process.exit(1);
}
