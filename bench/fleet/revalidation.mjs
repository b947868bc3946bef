// Idle cost of keeping N open sessions honest about revocation, measured on the server's own
// registry code, A and B interleaved in one process:
//   A (baseline, the former polling): every interval, each session re-reads its application key and
//     its device (Registry.getKey + getDevice, what EdgeSession.revalidate read per session).
//   B (Outpost now, edge/revocation-watch.ts): every interval, one `PRAGMA data_version` through
//     the registry's revocation log, plus the in-memory key-expiry comparison over N sessions.
//   node bench/fleet/revalidation.mjs [--sessions 1000] [--rounds 20] [--interval-ms 5000]
// Prints CPU time per interval for each, the share of one core at the interval, and B / A.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteRegistry } from "@outpost/server";

const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? def : Number(process.argv[i + 1]);
};
const sessions = arg("sessions", 1000);
const rounds = arg("rounds", 20);
const intervalMs = arg("interval-ms", 5000);

const dir = mkdtempSync(join(tmpdir(), "outpost-revalidation-"));
const registry = new SqliteRegistry(join(dir, "registry.db"));
const live = [];
registry.transaction(() => {
  for (let i = 0; i < sessions; i++) {
    const id = `dev-${i}`;
    registry.createDevice(id);
    const { record } = registry.createKey(id);
    live.push({ deviceId: id, keyId: record.keyId, keyExpiresAt: null });
  }
});

const polling = () => {
  const now = Date.now();
  for (const s of live) {
    const key = registry.getKey(s.keyId);
    if (!key || key.revokedAt !== null || (key.expiresAt !== null && key.expiresAt <= now)) throw new Error("revoked");
    const device = registry.getDevice(s.deviceId);
    if (!device || device.disabled) throw new Error("disabled");
  }
};
const watching = () => {
  const now = Date.now();
  if (registry.revocations.mayHaveChanged()) registry.revocations.since(0);
  let expired = 0;
  for (const s of live) if (s.keyExpiresAt !== null && s.keyExpiresAt <= now) expired++;
  if (expired > 0) throw new Error("expired");
};

/** CPU microseconds (user + system) of `ticks` calls of `fn`. */
const cpuOf = (fn, ticks) => {
  const start = process.cpuUsage();
  for (let i = 0; i < ticks; i++) fn();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / ticks;
};

registry.revocations.cursor();
for (let i = 0; i < 3; i++) {
  polling();
  watching();
}
const a = [];
const b = [];
for (let r = 0; r < rounds; r++) {
  // Alternate which goes first, so drift in machine load does not favour one side.
  if (r % 2 === 0) {
    a.push(cpuOf(polling, 5));
    b.push(cpuOf(watching, 500));
  } else {
    b.push(cpuOf(watching, 500));
    a.push(cpuOf(polling, 5));
  }
}
const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
const ma = median(a);
const mb = median(b);
const share = (us) => ((us / 1000 / intervalMs) * 100).toFixed(4);
console.log(`revalidation: ${sessions} idle sessions, one check every ${intervalMs} ms, ${rounds} interleaved rounds`);
console.log(
  `  baseline (per-session key + device reads): ${(ma / 1000).toFixed(2)} ms per interval, ${share(ma)} % of a core`,
);
console.log(
  `  outpost (one data_version + in-memory expiry): ${mb.toFixed(1)} µs per interval, ${share(mb)} % of a core`,
);
console.log(`revalidation: outpost / baseline = ${(mb / ma).toFixed(4)}x CPU per interval`);
registry.close();
rmSync(dir, { recursive: true, force: true });
