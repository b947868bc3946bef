// The edge's update path in this process, two builds of the server side by side: the device batch
// handler (edge/handlers/property-update.ts), its commit group and the SQLite registry on a file
// (WAL, synced commits), without TLS or framing. Each build gets its own registry; the sides run
// interleaved (A B A B ...), alternating which goes first.
//
//   node bench/things/update-path-ab.mjs --a=<dist dir> --b=<dist dir> [--rounds=6] [--turns=40] [--devices=20] [--names=1]
//
// A build's registry is passed to the handler as that build's EdgeDeps expects: a build whose
// registry/async-sqlite.js exports asyncRegistryOf and whose edge takes the asynchronous view gets
// it (--async=a,b names which sides do), the other the synchronous SqliteRegistry.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { toWireValue, wire } from "@outpost/protocol";

const args = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, "").split("=");
    return [k, v ?? "true"];
  }),
);
const rounds = Number(args.rounds ?? 6);
const turns = Number(args.turns ?? 40);
const devices = Number(args.devices ?? 20);
const names = Number(args.names ?? 1);
const batch = 500;
const asyncSides = new Set((args.async ?? "b").split(","));

async function side(label, dist) {
  const url = (p) => pathToFileURL(join(resolve(dist), p)).href;
  const { SqliteRegistry } = await import(url("registry/sqlite.js"));
  const { handlePropertyUpdate } = await import(url("edge/handlers/property-update.js"));
  const { DeviceLimits } = await import(url("edge/device-limits.js"));
  const { ChangeHub } = await import(url("things/changes.js"));
  const dir = mkdtempSync(join(tmpdir(), `outpost-ab-${label}-`));
  const registry = new SqliteRegistry(join(dir, "registry.db"));
  for (let d = 0; d < devices; d++) {
    registry.createDevice(`dev-${d}`);
    registry.assignThing(`thing-${d}`, `dev-${d}`);
  }
  let view = registry;
  if (asyncSides.has(label)) view = (await import(url("registry/async-sqlite.js"))).asyncRegistryOf(registry);
  const deps = {
    registry: view,
    audit: { append: () => ({}) },
    logger: { debug() {}, info() {}, warn() {}, error() {} },
    hub: new ChangeHub(),
    deviceLimits: new DeviceLimits(),
  };
  let answered = 0;
  /** Resolves the turn in progress once its last batch is answered (no polling: it would spin while a build waits for its log sync). */
  let awaited = { count: Infinity, resolve: () => {} };
  const answer = () => {
    answered++;
    if (answered >= awaited.count) awaited.resolve();
  };
  const contexts = Array.from({ length: devices }, (_, d) => ({
    deviceId: `dev-${d}`,
    sessionId: `s-${d}`,
    source: "127.0.0.1",
    deps,
    bound: new Set([`thing-${d}`]),
    reply: answer,
    replyError: (_r, err) => {
      throw err;
    },
    send() {},
    reportFault() {},
  }));
  let seq = 0;
  /** The decoded batches of one run, built before it is timed: turn -> device -> envelope. */
  const prepare = () =>
    Array.from({ length: turns }, () =>
      contexts.map((ctx) => {
        const thing = ctx.bound.values().next().value;
        const values = [];
        for (let i = 0; i < batch; i++) {
          seq += 1;
          values.push({ thing, name: `p${i % names}`, value: toWireValue(i), timestampMs: 1, seq });
        }
        const bytes = wire.Envelope.encode({ requestId: 1, propertyUpdate: { epoch: 1, values } }).finish();
        return wire.Envelope.decode(bytes);
      }),
    );
  /** One turn: every device sends one batch; resolves when all are answered. */
  const turn = (envelopes) => {
    const done = new Promise((resolve) => {
      awaited = { count: answered + devices, resolve };
    });
    contexts.forEach((ctx, d) => handlePropertyUpdate(ctx, envelopes[d]));
    return done;
  };
  return {
    label,
    async run() {
      const envelopes = prepare();
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      for (let i = 0; i < turns; i++) await turn(envelopes[i]);
      const ms = performance.now() - t0;
      const cpu = process.cpuUsage(cpu0);
      const updates = turns * devices * batch;
      return { ups: (updates / ms) * 1000, cpuUs: (cpu.user + cpu.system) / updates };
    },
    close() {
      registry.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const a = await side("a", args.a);
const b = await side("b", args.b);
await a.run();
await b.run(); // warm-up
const results = { a: [], b: [] };
for (let r = 0; r < rounds; r++) {
  const order = r % 2 === 0 ? [a, b] : [b, a];
  for (const s of order) results[s.label].push(await s.run());
}
a.close();
b.close();
const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
const ratios = results.a.map((ra, i) => results.b[i].ups / ra.ups);
const fmt = (n) => Math.round(n).toLocaleString("en-US");
console.log(
  `update path in process: ${devices} devices per turn, batches of ${batch} over ${names} name(s), ${turns} turns per run, ${rounds} rounds`,
);
for (const s of ["a", "b"]) {
  const rs = results[s];
  console.log(
    `${s} (${s === "a" ? args.a : args.b}): upd/s ${rs.map((x) => fmt(x.ups)).join(" · ")}; median ${fmt(median(rs.map((x) => x.ups)))} upd/s, ${median(rs.map((x) => x.cpuUs)).toFixed(2)} CPU µs/update`,
  );
}
console.log(
  `b ÷ a per round: ${ratios.map((x) => x.toFixed(2)).join(" · ")}; median ${median(ratios).toFixed(2)}x; CPU µs/update b ÷ a ${(median(results.b.map((x) => x.cpuUs)) / median(results.a.map((x) => x.cpuUs))).toFixed(2)}x`,
);
