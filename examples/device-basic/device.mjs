#!/usr/bin/env node
// A basic Outpost device: one Thing with a simulated temperature, a writable setpoint, a `reset`
// service and an `overheat` event. Reads the bundle written by `outpost-server device add`.
//
//   node examples/device-basic/device.mjs --bundle <dir> [--url wss://host:port/edge] [--interval 1000]
//
// Prints one JSON object per line (status changes, writes, service calls) so scripts can follow it.
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { EdgeClient, ErrorCode, OutpostError } from "@outpost/sdk";

const { values: args } = parseArgs({
  options: {
    bundle: { type: "string", default: process.env.OUTPOST_BUNDLE },
    url: { type: "string", default: process.env.OUTPOST_URL },
    interval: { type: "string", default: "1000" },
  },
});

const log = (record) => console.log(JSON.stringify({ time: new Date().toISOString(), ...record }));

if (!args.bundle) {
  console.error("usage: device.mjs --bundle <dir> [--url wss://...]   (or set OUTPOST_BUNDLE)");
  process.exit(2);
}
const dir = resolve(args.bundle);
const read = (name) => readFileSync(join(dir, name), "utf8");
const manifest = JSON.parse(read("device.json"));
const files = manifest.files ?? { ca: "ca.pem", cert: "device.pem", key: "device.key", appKey: "app-key" };
// A bundle made from a CSR (`device add --csr`) holds no key: use the device.key that `pki csr`
// wrote, copied into the bundle directory.
const keyFile = files.key ?? (existsSync(join(dir, "device.key")) ? "device.key" : undefined);
const passphrase = process.env.OUTPOST_KEY_PASSPHRASE;
if (manifest.keyEncrypted && !passphrase) {
  console.error("the device key is encrypted: set OUTPOST_KEY_PASSPHRASE");
  process.exit(2);
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
    logger: {
      debug() {},
      info() {},
      warn: (message, fields) => log({ level: "warn", message, ...fields }),
      error: (message, fields) => log({ level: "error", message, ...fields }),
    },
  });
} catch (err) {
  // OUTPOST_INVALID_CONFIG: for example a wrong OUTPOST_KEY_PASSPHRASE or a key that does not
  // belong to the certificate.
  log({ level: "error", message: `invalid configuration: ${err.message}`, code: err.code });
  process.exit(2);
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

client.on("status", (s) => log({ status: s.type, ...statusFields(s) }));
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

let stopping = false;
async function shutdown(signal) {
  if (stopping) return;
  stopping = true;
  clearInterval(timer);
  log({ message: `received ${signal}, closing` });
  await client.close({ timeoutMs: 3_000 });
  process.exit(0);
}
process.on("SIGINT", () => void shutdown("SIGINT"));
process.on("SIGTERM", () => void shutdown("SIGTERM"));

try {
  await client.connect();
} catch (err) {
  log({ level: "error", message: `cannot connect: ${err.message}`, code: err.code });
  clearInterval(timer);
  process.exit(1);
}
