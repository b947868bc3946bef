// Runs the whole suite with vitest and prints the closing line "N passed, N failed[, N skipped]".
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";

const out = ".test-results.json";
rmSync(out, { force: true });
const vitest = join(import.meta.dirname, "..", "node_modules", "vitest", "vitest.mjs");
const args = [vitest, "run", "--reporter=default", "--reporter=json", `--outputFile=${out}`, ...process.argv.slice(2)];
const run = spawnSync(process.execPath, args, { stdio: "inherit" });

let passed = 0;
let failed = 0;
let skipped = 0;
if (existsSync(out)) {
  const r = JSON.parse(readFileSync(out, "utf8"));
  passed = r.numPassedTests;
  failed = r.numFailedTests;
  skipped = r.numPendingTests + r.numTodoTests;
  // A suite that fails to load has no tests of its own but must still count as a failure.
  for (const suite of r.testResults ?? [])
    if (suite.status === "failed" && suite.assertionResults.length === 0) failed++;
} else {
  failed = 1;
}
const code = run.status ?? 1;
if (code !== 0 && failed === 0) failed = 1;
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
process.exit(code);
