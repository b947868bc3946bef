// Fleet benchmark: N authenticated, bound devices (real @outpost/sdk EdgeClients in several load
// generator processes, bench/fleet/generator.mjs) against one real `outpost-server serve`; then the
// server is killed with SIGKILL and started again on the same port and data directory, and the
// time until every device is connected again is measured.
//   node bench/fleet/run.mjs [--devices 1000] [--generators 4] [--concurrency 16] [--idle-seconds 10]
//                            [--back-timeout 600] [--no-restart] [--no-resume]
// --no-resume turns off the SDK's TLS session resumption (tls.resumeSessions: false) for comparison.
// Measured:
// - connected in: from the generators' start until all N devices are connected (Auth and Bind done).
// - server RSS per device: VmRSS of the server after a full GC (bench/lib/gc-hook.mjs) with all
//   devices connected, minus the same before the first device connected, divided by N.
// - idle CPU: server CPU time (user + system, /proc) over --idle-seconds with every device idle.
// - back after restart in: from the SIGKILL until all N devices are connected to the new process
//   (it includes the new server's start-up, printed separately).
// BENCH_FLEET_CONFIG (JSON) is merged into config.json, e.g. '{"edge":{"maxHandshakes":16}}'.
// BENCH_SERVER_NODE_ARGS adds node flags to the server (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"),
// BENCH_GENERATOR_NODE_ARGS to the load generators.
// Each generator connects from its own loopback address (127.0.0.2, 127.0.0.3, ...), so the fleet
// is not limited by one source address's ephemeral ports. The last line is, exactly:
//   fleet: N devices, connected in X s, back after restart in Y s, Z KB server RSS per device
import { spawn } from "node:child_process";
import { copyFileSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { cpuSecondsOf, rssOf } from "../lib/child.mjs";
import { createFixture, SERVER_CLI, sleep } from "../lib/outpost-fixture.mjs";

const here = new URL(".", import.meta.url).pathname;
const GC_HOOK = join(here, "..", "lib", "gc-hook.mjs");
const GENERATOR = join(here, "generator.mjs");

function parseArgs(argv) {
  const value = (name, def) => {
    const i = argv.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`));
    if (i < 0) return def;
    return Number(argv[i].includes("=") ? argv[i].split("=")[1] : argv[i + 1]);
  };
  const devices = value("devices", 1000);
  return {
    devices,
    generators: value("generators", Math.max(2, Math.min(8, Math.ceil(devices / 2500)))),
    concurrency: value("concurrency", 16),
    idleSeconds: value("idle-seconds", 10),
    backTimeoutS: value("back-timeout", 600),
    restart: !argv.includes("--no-restart"),
    resumeSessions: !argv.includes("--no-resume"),
  };
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Starts the server with its stdout (the JSON log) going to a file, so a slow reader never slows
 * the server. Open files raised to the hard limit. Resolves once the edge endpoint listens.
 */
async function startServer(dataDir, port, logPath) {
  const out = openSync(logPath, "a");
  const extra = (process.env.BENCH_SERVER_NODE_ARGS ?? "").split(/\s+/).filter(Boolean);
  const node = [process.execPath, ...extra, "--expose-gc", "--import", GC_HOOK, SERVER_CLI, "serve", "--data", dataDir];
  const args = [...node, "--edge-port", String(port), "--operator-port", "0"];
  const quoted = args.map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(" ");
  const child = spawn("sh", ["-c", `ulimit -n "$(ulimit -Hn)" && exec ${quoted}`], {
    stdio: ["ignore", out, "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (c) => (stderr = (stderr + c).slice(-4096)));
  const started = performance.now();
  const logLines = () => readFileSync(logPath, "utf8").split("\n");
  const from = logLines().length - 1;
  while (
    !logLines()
      .slice(from)
      .some((l) => l.includes('"edgeUrl"'))
  ) {
    if (child.exitCode !== null) throw new Error(`server exited (${child.exitCode}): ${stderr}`);
    if (performance.now() - started > 60_000) throw new Error("server did not start within 60 s");
    await sleep(50);
  }
  const gcCount = () => logLines().filter((l) => l.includes('"benchGc"')).length;
  return {
    child,
    pid: child.pid,
    startSeconds: (performance.now() - started) / 1000,
    async settledRss() {
      for (let i = 0; i < 2; i++) {
        const before = gcCount();
        child.kill("SIGUSR2");
        const t = performance.now();
        while (gcCount() === before && performance.now() - t < 10_000) await sleep(50);
        await sleep(1_000);
      }
      return rssOf(child.pid);
    },
    kill() {
      return new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGKILL");
      });
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(t);
    },
  };
}

function startGenerator(slicePath) {
  const extra = (process.env.BENCH_GENERATOR_NODE_ARGS ?? "").split(/\s+/).filter(Boolean);
  const child = spawn(process.execPath, [...extra, GENERATOR, slicePath], { stdio: ["pipe", "pipe", "inherit"] });
  const state = { connected: 0, attempts: 0, failures: 0, reasons: {}, cpuS: 0 };
  createInterface({ input: child.stdout }).on("line", (line) => {
    try {
      Object.assign(state, JSON.parse(line));
    } catch {
      // not a report
    }
  });
  return {
    state,
    close() {
      return new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        const t = setTimeout(() => child.kill("SIGKILL"), 30_000);
        child.once("exit", () => {
          clearTimeout(t);
          resolve();
        });
        child.stdin.write("close\n");
      });
    },
  };
}

/** Loopback source address of device `i`: 127.1.0.1, 127.1.0.2, ... (never 127.0.0.1, the server's). */
function deviceAddress(i) {
  const n = i + 1;
  return `127.1.${Math.floor(n / 250)}.${(n % 250) + 1}`;
}

/** Copies the server's log to $BENCH_FLEET_LOG, when set, before the data directory is removed. */
function keepLog(logPath) {
  if (process.env.BENCH_FLEET_LOG) copyFileSync(logPath, process.env.BENCH_FLEET_LOG);
}

const sum = (gens, key) => gens.reduce((n, g) => n + g.state[key], 0);

/** The generators' failed attempts by reason, most frequent first, as "n reason" lines. */
function reasonLines(gens) {
  const all = {};
  for (const g of gens) for (const [r, n] of Object.entries(g.state.reasons)) all[r] = (all[r] ?? 0) + n;
  return Object.entries(all)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 6)
    .map(([r, n]) => `    ${n} ${r}`);
}

/**
 * Waits until all `n` devices are connected; prints progress every 5 s with the CPU share the
 * server (pid) and the load generators used in that interval. Returns seconds or undefined on timeout.
 */
async function waitAllConnected(gens, n, t0, timeoutS, label, pid) {
  let last = { at: performance.now(), server: await cpuSecondsOf(pid).catch(() => 0), gens: sum(gens, "cpuS") };
  while (sum(gens, "connected") < n) {
    const now = performance.now();
    if ((now - t0) / 1000 > timeoutS) return undefined;
    if (now - last.at >= 5_000) {
      const cur = { at: now, server: await cpuSecondsOf(pid).catch(() => 0), gens: sum(gens, "cpuS") };
      const share = (a, b) => `${(((a - b) / ((cur.at - last.at) / 1000)) * 100).toFixed(0)} %`;
      const s = ((now - t0) / 1000).toFixed(0);
      console.log(
        `  ${label} ${s} s: ${sum(gens, "connected")} of ${n} connected, ${sum(gens, "failures")} failed attempts; ` +
          `CPU server ${share(cur.server, last.server)}, load generators ${share(cur.gens, last.gens)}`,
      );
      last = cur;
    }
    await sleep(100);
  }
  return (performance.now() - t0) / 1000;
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const loadAvg = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
  const resume = o.resumeSessions ? "TLS resumption on" : "TLS resumption off";
  console.log(
    `fleet benchmark: ${o.devices} devices, ${o.generators} generators, ${resume}; load average ${loadAvg()}`,
  );
  let t = performance.now();
  const configPatch = JSON.parse(process.env.BENCH_FLEET_CONFIG ?? "{}");
  if (process.env.BENCH_FLEET_CONFIG) console.log(`  config.json patch: ${process.env.BENCH_FLEET_CONFIG}`);
  const fx = await createFixture({ devices: o.devices, configPatch });
  console.log(`  onboarded ${o.devices} devices in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  const port = await freePort();
  const url = `wss://127.0.0.1:${port}`;
  const logPath = join(fx.dir, "server.log");
  let server = await startServer(fx.dir, port, logPath);
  const gens = [];
  try {
    const rssBefore = await server.settledRss();
    const per = Math.ceil(o.devices / o.generators);
    for (let g = 0; g < o.generators; g++) {
      const devices = fx.devices.slice(g * per, (g + 1) * per);
      if (devices.length === 0) break;
      const slicePath = join(fx.dir, `slice-${g}.json`);
      // Every device its own source address, as in a real fleet (127.0.0.0/8 is all loopback):
      // the server's per-source limits then see one device per address, not a generator's share.
      const start = g * per;
      const addressed = devices.map((d, i) => ({ ...d, localAddress: deviceAddress(start + i) }));
      const slice = { url, caPem: fx.caPem, keyPem: fx.deviceKeyPem };
      const settings = { concurrency: o.concurrency, resumeSessions: o.resumeSessions };
      writeFileSync(slicePath, JSON.stringify({ ...slice, ...settings, devices: addressed }));
      gens.push(startGenerator(slicePath));
    }
    t = performance.now();
    const connectS = await waitAllConnected(gens, o.devices, t, 1800, "connect", server.pid);
    if (connectS === undefined) throw new Error("not every device connected within 1800 s");
    const cpuPerLogin = (await cpuSecondsOf(server.pid)) / o.devices;
    const genCpuPerLogin = sum(gens, "cpuS") / o.devices;
    console.log(
      `  connected in ${connectS.toFixed(1)} s (${sum(gens, "failures")} failed attempts); ` +
        `load generators ${(genCpuPerLogin * 1000).toFixed(1)} ms CPU per device`,
    );
    await sleep(2_000);
    const rssAfter = await server.settledRss();
    const rssPerDeviceKb = (rssAfter - rssBefore) / o.devices / 1024;
    console.log(
      `  server RSS ${(rssBefore / 2 ** 20).toFixed(0)} MB -> ${(rssAfter / 2 ** 20).toFixed(0)} MB: ` +
        `${rssPerDeviceKb.toFixed(1)} KB per device; server CPU ${(cpuPerLogin * 1000).toFixed(1)} ms per login (incl. start-up)`,
    );
    const cpu0 = await cpuSecondsOf(server.pid);
    await sleep(o.idleSeconds * 1000);
    const idleCpu = ((await cpuSecondsOf(server.pid)) - cpu0) / o.idleSeconds;
    console.log(`  idle server CPU ${(idleCpu * 100).toFixed(1)} % of a core over ${o.idleSeconds} s`);

    let backS = Number.NaN;
    if (o.restart) {
      const attempts0 = sum(gens, "attempts");
      const genCpu0 = sum(gens, "cpuS");
      const failures0 = sum(gens, "failures");
      t = performance.now();
      await server.kill();
      server = await startServer(fx.dir, port, logPath);
      console.log(
        `  killed and restarted; new server listening after ${((performance.now() - t) / 1000).toFixed(1)} s`,
      );
      const cpuStart = await cpuSecondsOf(server.pid);
      // Wait until the generators have seen the connections drop before counting them back.
      const dropDeadline = performance.now() + 30_000;
      while (sum(gens, "connected") === o.devices && performance.now() < dropDeadline) await sleep(50);
      const back = await waitAllConnected(gens, o.devices, t, o.backTimeoutS, "restart", server.pid);
      const cpuBack = (await cpuSecondsOf(server.pid)) - cpuStart;
      const genCpu = sum(gens, "cpuS") - genCpu0;
      const attempts = sum(gens, "attempts") - attempts0;
      const failed = sum(gens, "failures") - failures0;
      if (back === undefined) {
        console.log(`  only ${sum(gens, "connected")} of ${o.devices} back after ${o.backTimeoutS} s`);
      } else {
        backS = back;
        console.log(
          `  back after ${back.toFixed(1)} s: ${attempts} attempts, ${failed} failed; ` +
            `server CPU ${((cpuBack / o.devices) * 1000).toFixed(1)} ms per device back ` +
            `(busy ${((cpuBack / back) * 100).toFixed(0)} % of a core), load generators ` +
            `${((genCpu / o.devices) * 1000).toFixed(1)} ms per device (${((genCpu / back) * 100).toFixed(0)} % of a core)`,
        );
      }
    }
    const why = reasonLines(gens);
    if (why.length > 0) console.log(`  failed attempts by reason (whole run):\n${why.join("\n")}`);
    console.log(`  load average ${loadAvg()}`);
    const y = Number.isNaN(backS) ? `>${o.backTimeoutS}` : backS.toFixed(1);
    const line =
      `fleet: ${o.devices} devices, connected in ${connectS.toFixed(1)} s, ` +
      `back after restart in ${o.restart ? y : "n/a"} s, ${rssPerDeviceKb.toFixed(0)} KB server RSS per device`;
    await Promise.all(gens.map((g) => g.close()));
    await server.stop();
    keepLog(logPath);
    fx.remove();
    console.log(line);
  } catch (err) {
    await Promise.all(gens.map((g) => g.close()));
    await server.kill();
    keepLog(logPath);
    fx.remove();
    throw err;
  }
}

await main();
