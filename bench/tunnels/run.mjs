// Tunnel benchmark, all in one run on 127.0.0.1 against a real `outpost-server serve` process:
//   1. iperf3 throughput through an Outpost tunnel vs through `ssh -L` to a local sshd (the
//      baseline), alternating A B A B; prints each round and the median ratio (goal >= 1.0). A third
//      path in the same rounds, two plain TLS WebSocket hops through a `ws` relay process with no
//      protocol on top (bench/lib/raw-wss-relay.mjs), is the ceiling of any tunnel carried over the
//      device's WebSocket: its ratio to ssh -L bounds what a tunnel can reach on this machine.
//   2. added round-trip latency of a 1-byte echo through the tunnel vs direct TCP (p50/p99;
//      goal <= 0.5 ms added at p50), and, for comparison, through the plain relay and ssh -L.
//   3. service-call latency on the same device, idle and while iperf3 saturates the tunnel.
// The device (SDK) and the operator client run in this process; the server is a child process.
// Needs iperf3, sshd and ssh (Debian: iperf3, openssh-server, openssh-client). After `npm run build`:
//   node bench/tunnels/run.mjs [--seconds=4] [--rounds=2] [--pings=2000] [--calls=100]
// BENCH_SERVER_NODE_ARGS adds node flags to the server (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof").
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { OperatorClient } from "@outpost/operator";
import { EdgeClient, silentLogger } from "@outpost/sdk";
import WebSocket, { createWebSocketStream } from "ws";
import { freePort, quantile, startProcess, stopAll } from "../lib/processes.mjs";

const arg = (name, dflt) => {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  return a ? Number(a.slice(name.length + 3)) : dflt;
};
const SECONDS = arg("seconds", 4);
const ROUNDS = arg("rounds", 2);
const PINGS = arg("pings", 2000);
const CALLS = arg("calls", 100);
const root = join(import.meta.dirname, "..", "..");
const SERVER_CLI = join(root, "packages", "server", "dist", "cli", "main.js");
const SERVER_NODE_ARGS = (process.env.BENCH_SERVER_NODE_ARGS ?? "").split(/\s+/).filter(Boolean);
const dir = mkdtempSync(join(tmpdir(), "outpost-bench-tunnels-"));
const children = [];
const cleanups = [];

const start = (cmd, args, ready) => startProcess(children, cmd, args, ready);
const median = (xs) => quantile(xs, 0.5);

try {
  // --- server, device bundle, operator token
  const data = join(dir, "server");
  const init = execFileSync(process.execPath, [SERVER_CLI, "init", "--data", data], { encoding: "utf8" });
  const token = /opt_[A-Za-z0-9_-]+/.exec(init)[0];
  const bundle = join(dir, "bundle");
  execFileSync(process.execPath, [
    SERVER_CLI,
    "device",
    "add",
    "bench-1",
    "--things",
    "bench-thing",
    "--out",
    bundle,
    "--data",
    data,
  ]);
  const server = await start(
    process.execPath,
    [...SERVER_NODE_ARGS, SERVER_CLI, "serve", "--data", data, "--edge-port", "0", "--operator-port", "0"],
    (l) => {
      try {
        const m = JSON.parse(l);
        return m.edgeUrl && m.operatorUrl ? m : undefined;
      } catch {
        return undefined;
      }
    },
  );
  const { edgeUrl, operatorUrl } = server.value;
  const ca = readFileSync(join(data, "ca", "ca.pem"), "utf8");

  // --- targets: iperf3 server, echo server, sshd for the baseline
  const iperfPort = await freePort();
  await start("iperf3", ["-s", "-p", String(iperfPort), "-B", "127.0.0.1", "--forceflush"], (l) =>
    l.includes("Server listening"),
  );
  const echo = createServer({ allowHalfOpen: true }, (s) => {
    s.setNoDelay(true);
    s.on("error", () => {});
    s.pipe(s);
  });
  await new Promise((r) => echo.listen(0, "127.0.0.1", r));
  cleanups.push(() => echo.close());
  const echoPort = echo.address().port;
  mkdirSync("/run/sshd", { recursive: true });
  for (const k of ["host_key", "client_key"])
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, k)]);
  writeFileSync(join(dir, "authorized_keys"), readFileSync(join(dir, "client_key.pub")));
  const sshPort = await freePort();
  const sshdArgs = ["-D", "-e", "-f", "/dev/null", "-o", `Port=${sshPort}`, "-o", "ListenAddress=127.0.0.1"];
  for (const o of [
    `HostKey=${join(dir, "host_key")}`,
    `AuthorizedKeysFile=${join(dir, "authorized_keys")}`,
    "StrictModes=no",
    "UsePAM=no",
    "PidFile=none",
  ])
    sshdArgs.push("-o", o);
  await start("/usr/sbin/sshd", sshdArgs, (l) => l.includes("Server listening"));

  // --- the device (SDK) with its tunnel targets and a service
  const read = (f) => readFileSync(join(bundle, f), "utf8");
  const device = new EdgeClient({
    url: edgeUrl,
    appKey: read("app-key").trim(),
    tls: { ca: read("ca.pem"), cert: read("device.pem"), key: read("device.key") },
    logger: silentLogger,
    tunnels: { targets: { iperf: `127.0.0.1:${iperfPort}`, echo: `127.0.0.1:${echoPort}` }, audit: () => {} },
  });
  device.thing("bench-thing").service("ping", () => "pong");
  await device.connect();
  cleanups.push(() => device.close());

  // --- operator: tunnels with local ports; ssh -L as the baseline
  const operator = new OperatorClient({ url: operatorUrl, token, ca });
  const iperfTunnel = await operator.openTunnel({ device: "bench-1", target: "iperf", deviceCa: ca });
  cleanups.push(() => iperfTunnel.close());
  const tunnelPort = (await iperfTunnel.listen(0)).address().port;
  const sshLocal = await freePort();
  const sshEchoLocal = await freePort();
  const sshL = spawn(
    "ssh",
    [
      "-N",
      "-p",
      String(sshPort),
      "-i",
      join(dir, "client_key"),
      "-o",
      "StrictHostKeyChecking=no",
      "-o",
      "UserKnownHostsFile=/dev/null",
      "-o",
      "BatchMode=yes",
      "-o",
      "LogLevel=ERROR",
      "-o",
      "ExitOnForwardFailure=yes",
      "-L",
      `${sshLocal}:127.0.0.1:${iperfPort}`,
      "-L",
      `${sshEchoLocal}:127.0.0.1:${echoPort}`,
      "root@127.0.0.1",
    ],
    { stdio: "ignore" },
  );
  children.push(sshL);
  for (let i = 0; i < 100; i++) {
    const up = await new Promise((r) =>
      connect(sshLocal, "127.0.0.1")
        .once("connect", function () {
          this.destroy();
          r(true);
        })
        .once("error", () => r(false)),
    );
    if (up) break;
    await new Promise((r) => setTimeout(r, 100));
  }

  // --- the ceiling: iperf3 through two plain TLS WebSocket hops and a relay process
  const relay = await start(
    process.execPath,
    [join(root, "bench", "lib", "raw-wss-relay.mjs"), join(data, "tls", "server.pem"), join(data, "tls", "server.key")],
    (l) => {
      try {
        return JSON.parse(l).port;
      } catch {
        return undefined;
      }
    },
  );
  const zeroMask = (mask) => mask.fill(0);
  const hop = (side, id) =>
    createWebSocketStream(
      new WebSocket(`wss://127.0.0.1:${relay.value}/${side}/${id}`, {
        ca,
        perMessageDeflate: false,
        generateMask: zeroMask,
        maxPayload: 16 * 1024 * 1024,
      }),
    );
  let pairs = 0;
  const relayTo = (targetPort) => (s) => {
    s.setNoDelay(true);
    const id = String(++pairs);
    const target = connect({ port: targetPort, host: "127.0.0.1", noDelay: true });
    const dev = hop("dev", id);
    const op = hop("op", id);
    for (const x of [s, target, dev, op]) x.on("error", () => [s, target, dev, op].forEach((y) => y.destroy()));
    target.pipe(dev).pipe(target);
    s.pipe(op).pipe(s);
  };
  const listenLocal = async (onConnection) => {
    const srv = createServer(onConnection);
    await new Promise((r) => srv.listen(0, "127.0.0.1", r));
    cleanups.push(() => srv.close());
    return srv.address().port;
  };
  const ceilingPort = await listenLocal(relayTo(iperfPort));
  const ceilingEchoPort = await listenLocal(relayTo(echoPort));

  // iperf3 serves one test at a time: after a run through the tunnel its server may still be
  // closing the last one, and answers "busy" for a moment.
  const iperf = async (port, seconds = SECONDS) => {
    for (let attempt = 0; ; attempt++) {
      try {
        return await iperfOnce(port, seconds);
      } catch (err) {
        if (!/busy/.test(err.message) || attempt >= 40) throw err;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  };
  const iperfOnce = (port, seconds) =>
    new Promise((resolve, reject) => {
      const c = spawn("iperf3", ["-c", "127.0.0.1", "-p", String(port), "-t", String(seconds), "-J"], {
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      c.stdout.on("data", (d) => (out += d));
      c.on("exit", (code) => {
        try {
          const j = JSON.parse(out);
          if (j.error) return reject(new Error(j.error));
          resolve(j.end.sum_received.bits_per_second / 1e6);
        } catch (err) {
          reject(new Error(`iperf3 exited ${code}: ${out.slice(0, 300)} ${err}`));
        }
      });
    });

  // One short unmeasured run through each first, so neither side's first measured round pays for
  // start-up (the tunnel's JavaScript compiling its hot paths, ssh's first channel).
  await iperf(tunnelPort, 1);
  await iperf(sshLocal, 1);
  await iperf(ceilingPort, 1);
  console.log(
    `1. iperf3 -t ${SECONDS}: Outpost tunnel vs ssh -L, and plain ws relay (ceiling), same machine, same run, alternating`,
  );
  const ratios = [];
  const ceilings = [];
  for (let r = 0; r < ROUNDS; r++) {
    const a = await iperf(tunnelPort);
    const b = await iperf(sshLocal);
    const c = await iperf(ceilingPort);
    ratios.push(a / b);
    ceilings.push(c / b);
    console.log(
      `   round ${r + 1}: tunnel ${a.toFixed(0)} Mbit/s, ssh -L ${b.toFixed(0)} Mbit/s, ratio ${(a / b).toFixed(2)}; ` +
        `plain ws relay ${c.toFixed(0)} Mbit/s, ratio to ssh -L ${(c / b).toFixed(2)}, tunnel ÷ relay ${(a / c).toFixed(2)}`,
    );
  }
  console.log(
    `   median ratio ${median(ratios).toFixed(2)} (range ${Math.min(...ratios).toFixed(2)}..${Math.max(...ratios).toFixed(2)}; goal >= 1.0)`,
  );
  console.log(
    `   ceiling: two plain TLS WebSocket hops reach ${median(ceilings).toFixed(2)}x ssh -L (range ${Math.min(...ceilings).toFixed(2)}..${Math.max(...ceilings).toFixed(2)})`,
  );

  // --- 2. round-trip latency of 1 byte: tunnel vs direct TCP
  const echoTunnel = await operator.openTunnel({ device: "bench-1", target: "echo", deviceCa: ca });
  cleanups.push(() => echoTunnel.close());
  const echoTunnelPort = (await echoTunnel.listen(0)).address().port;
  const pings = async (port) => {
    const s = connect({ port, host: "127.0.0.1", noDelay: true });
    await new Promise((r) => s.once("connect", r));
    const samples = [];
    for (let i = 0; i < PINGS; i++) {
      const t0 = process.hrtime.bigint();
      const got = new Promise((r) => s.once("data", r));
      s.write("x");
      await got;
      samples.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    s.destroy();
    return samples.slice(Math.min(100, samples.length / 10));
  };
  const direct = await pings(echoPort);
  const through = await pings(echoTunnelPort);
  const relayed = await pings(ceilingEchoPort);
  const viaSsh = await pings(sshEchoLocal);
  const [[d50, d99], [t50, t99], [r50, r99], [s50, s99]] = [direct, through, relayed, viaSsh].map((xs) => [
    quantile(xs, 0.5),
    quantile(xs, 0.99),
  ]);
  console.log(
    `2. 1-byte echo round trip, ${PINGS} each: direct p50 ${d50.toFixed(3)} ms p99 ${d99.toFixed(3)} ms; tunnel p50 ${t50.toFixed(3)} ms p99 ${t99.toFixed(3)} ms`,
  );
  console.log(
    `   added by the tunnel: p50 ${(t50 - d50).toFixed(3)} ms, p99 ${(t99 - d99).toFixed(3)} ms (goal <= 0.5 ms at p50)`,
  );
  console.log(
    `   added by the plain ws relay (ceiling): p50 ${(r50 - d50).toFixed(3)} ms, p99 ${(r99 - d99).toFixed(3)} ms; ` +
      `by ssh -L: p50 ${(s50 - d50).toFixed(3)} ms, p99 ${(s99 - d99).toFixed(3)} ms`,
  );

  // --- 3. service calls on the same device, idle and while iperf3 saturates the tunnel
  const calls = async () => {
    const samples = [];
    for (let i = 0; i < CALLS; i++) {
      const t0 = performance.now();
      await operator.invokeService("bench-thing", "ping", {});
      samples.push(performance.now() - t0);
    }
    return samples;
  };
  const idle = await calls();
  const load = iperf(tunnelPort);
  await new Promise((r) => setTimeout(r, 500));
  const busy = await calls();
  const mbit = await load;
  console.log(
    `3. service call through the operator API, ${CALLS} sequential: idle p50 ${quantile(idle, 0.5).toFixed(2)} ms p99 ${quantile(idle, 0.99).toFixed(2)} ms; ` +
      `while iperf3 saturates the tunnel (${mbit.toFixed(0)} Mbit/s) p50 ${quantile(busy, 0.5).toFixed(2)} ms p99 ${quantile(busy, 0.99).toFixed(2)} ms`,
  );
} finally {
  for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => {});
  await stopAll(children);
  rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
}
