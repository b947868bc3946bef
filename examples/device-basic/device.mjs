#!/usr/bin/env node
// A basic Outpost device: one Thing with a simulated temperature, a writable setpoint, a `reset`
// service and an `overheat` event. Reads the bundle written by `outpost-server device add`.
//
//   node examples/device-basic/device.mjs --bundle <dir> [--url wss://host:port/edge] [--interval 1000]
//                                        [--vdir NAME=PATH]...   (virtual directories for file transfer)
//     [--allow-tunnel NAME=HOST:PORT ...]
//
// Each --allow-tunnel lets operators with tunnel.open reach HOST:PORT through `outpost tunnel
// <device> NAME` (the device connects to it; it listens on nothing). Tunnel starts and ends are
// printed as JSON lines too.
//
// Prints one JSON object per line (status changes, writes, service calls) so scripts can follow it.
//
// Exit codes: 0 stopped by SIGINT/SIGTERM; 1 cannot connect (or stopped reconnecting); 2 usage or
// configuration error; 3 another process connected with this device's identity (REPLACED);
// 4 the server revoked this device's access (key revoked or expired, device disabled).
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { EdgeClient, ErrorCode, OutpostError } from "@outpost/sdk";

const { values: args } = parseArgs({
  options: {
    bundle: { type: "string", default: process.env.OUTPOST_BUNDLE },
    url: { type: "string", default: process.env.OUTPOST_URL },
    interval: { type: "string", default: "1000" },
    vdir: { type: "string", multiple: true, default: [] },
    "allow-tunnel": { type: "string", multiple: true, default: [] },
  },
});

const EXIT = { stopped: 0, unreachable: 1, config: 2, replaced: 3, revoked: 4 };

const log = (record) => console.log(JSON.stringify({ time: new Date().toISOString(), ...record }));

/** A problem the user can fix: one line on stderr naming it, no stack trace. */
function fail(message, code = EXIT.config) {
  console.error(`device-basic: ${message}`);
  process.exit(code);
}

if (!args.bundle) fail("usage: device.mjs --bundle <dir> [--url wss://...]   (or set OUTPOST_BUNDLE)");
const dir = resolve(args.bundle);
if (!existsSync(join(dir, "device.json"))) {
  fail(
    existsSync(dir)
      ? `${dir} is not a device bundle (no device.json): use the --out directory of "outpost-server device add"`
      : `bundle directory ${dir} not found: check --bundle (the --out directory of "outpost-server device add")`,
  );
}
const read = (name) => {
  try {
    return readFileSync(join(dir, name), "utf8");
  } catch (err) {
    return fail(`cannot read ${join(dir, name)} from the bundle: ${err.code ?? err.message}`);
  }
};
let manifest;
try {
  manifest = JSON.parse(read("device.json"));
} catch (err) {
  fail(`${join(dir, "device.json")} is not valid JSON: ${err.message}`);
}
const files = manifest.files ?? { ca: "ca.pem", cert: "device.pem", key: "device.key", appKey: "app-key" };
// A bundle made from a CSR (`device add --csr`) holds no key: use the device.key that `pki csr`
// wrote, copied into the bundle directory.
const keyFile = files.key ?? (existsSync(join(dir, "device.key")) ? "device.key" : undefined);
if (keyFile === undefined) {
  fail(
    `the bundle ${dir} was made from a CSR and holds no private key: copy the device.key that ` +
      `"outpost-server pki csr" wrote on this device into ${dir}`,
  );
}
const passphrase = process.env.OUTPOST_KEY_PASSPHRASE;
if (manifest.keyEncrypted && !passphrase) fail(`${join(dir, keyFile)} is encrypted: set OUTPOST_KEY_PASSPHRASE`);

const targets = {};
for (const spec of args["allow-tunnel"]) {
  const eq = spec.indexOf("=");
  if (eq < 1) fail(`--allow-tunnel ${JSON.stringify(spec)} is not NAME=HOST:PORT (e.g. ssh=127.0.0.1:22)`);
  targets[spec.slice(0, eq)] = spec.slice(eq + 1);
}

const virtualDirs = {};
for (const spec of args.vdir) {
  const eq = spec.indexOf("=");
  if (eq <= 0 || eq === spec.length - 1) fail(`--vdir ${spec}: use NAME=PATH, e.g. --vdir logs=/var/log/app`);
  if (!existsSync(resolve(spec.slice(eq + 1))))
    fail(`--vdir ${spec}: directory ${resolve(spec.slice(eq + 1))} not found`);
  virtualDirs[spec.slice(0, eq)] = resolve(spec.slice(eq + 1));
}

let client;
try {
  client = new EdgeClient({
    url: args.url ?? manifest.url,
    appKey: read(files.appKey).trim(),
    tls: {
      ca: read(files.ca),
      cert: read(files.cert),
      ...(keyFile && { key: read(keyFile) }),
      ...(passphrase && { passphrase }),
    },
    ...(args.vdir.length > 0 && { files: { virtualDirs, audit: (event) => log({ file: event }) } }),
    logger: {
      debug() {},
      info() {},
      warn: (message, fields) => log({ level: "warn", message, ...fields }),
      error: (message, fields) => log({ level: "error", message, ...fields }),
    },
    ...(Object.keys(targets).length > 0 && {
      tunnels: { targets, audit: (record) => log({ event: record.type, ...record }) },
    }),
  });
} catch (err) {
  // OUTPOST_INVALID_CONFIG: for example a wrong OUTPOST_KEY_PASSPHRASE or a key that does not
  // belong to the certificate.
  log({ level: "error", message: `invalid configuration: ${err.message}`, code: err.code });
  process.exit(EXIT.config);
}

const thingName = manifest.things?.[0] ?? "thermostat-1";
const thing = client.thing(thingName);
const temperature = thing.property("temperature", { type: "number", deadband: 0.05 });
const setpoint = thing.property("setpoint", {
  type: "number",
  writable: true,
  initial: 21,
  onWrite: (value) => {
    if (value < 5 || value > 35) {
      throw new OutpostError(ErrorCode.BadRequest, "setpoint must be between 5 and 35", { status: 400 });
    }
    log({ write: "setpoint", value });
  },
});
thing.service("reset", (params) => {
  current = 20;
  temperature.set(current);
  log({ service: "reset", params });
  return { ok: true, temperature: current, at: new Date().toISOString() };
});

let connectedOnce = false;
client.on("status", (s) => {
  log({ status: s.type, ...statusFields(s) });
  if (s.type === "connected") connectedOnce = true;
  if (s.type === "connected" && s.replacedSessionId) {
    log({
      level: "warn",
      message:
        `took over the session of another process using this device's identity (session ${s.replacedSessionId}); ` +
        "it has been disconnected: run only one copy per bundle",
    });
  }
  // The client gave up (no retry scheduled): say why and end, rather than idle without a connection.
  if (s.type === "disconnected" && s.retryInMs === undefined && connectedOnce && !stopping) giveUp(s.error);
});
client.on("queue-overflow", (info) => log({ level: "warn", message: "queue overflow", ...info }));
client.on("error", (err) => log({ level: "warn", message: err.message, code: err.code }));

function statusFields(s) {
  if (s.type === "connected") return { url: s.url, deviceId: s.deviceId, sessionId: s.sessionId };
  if (s.type === "connecting") return { url: s.url, attempt: s.attempt };
  if (s.type === "disconnected") return { error: s.error?.message, code: s.error?.code, retryInMs: s.retryInMs };
  return {};
}

// Simulated reading: drifts toward the setpoint with noise; raises `overheat` above 30 °C.
let current = 20;
let overheated = false;
const timer = setInterval(() => {
  const target = Number(setpoint.get() ?? 21);
  current += (target - current) * 0.1 + (Math.random() - 0.5) * 0.4;
  current = Math.round(current * 100) / 100;
  temperature.set(current);
  if (current > 30 && !overheated) thing.emit("overheat", { temperature: current, limit: 30 });
  overheated = current > 30;
}, Number(args.interval));

function giveUp(error) {
  stopping = true;
  clearInterval(timer);
  let code = EXIT.unreachable;
  let message = `stopped reconnecting: ${error?.message ?? "connection closed"}`;
  if (error?.code === ErrorCode.Conflict) {
    code = EXIT.replaced;
    message =
      "another process connected with this device's identity and replaced this session " +
      "(is a second copy running with the same bundle?); exiting";
  } else if (error?.code === ErrorCode.Unauthorized || error?.code === ErrorCode.Forbidden) {
    code = EXIT.revoked;
    message = `the server revoked this device's access (${error.message}): key revoked or expired, or device disabled; exiting`;
  }
  log({ level: "error", message, code: error?.code, exitCode: code });
  void client.close({ flush: false }).finally(() => process.exit(code));
}

let stopping = false;
async function shutdown(signal) {
  if (stopping) return;
  stopping = true;
  clearInterval(timer);
  log({ message: `received ${signal}, closing` });
  await client.close({ timeoutMs: 3_000 });
  process.exit(EXIT.stopped);
}
process.on("SIGINT", () => void shutdown("SIGINT"));
process.on("SIGTERM", () => void shutdown("SIGTERM"));

try {
  await client.connect();
} catch (err) {
  if (!stopping) {
    log({ level: "error", message: `cannot connect: ${err.message}`, code: err.code });
    clearInterval(timer);
    process.exit(EXIT.unreachable);
  }
}
