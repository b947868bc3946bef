#!/usr/bin/env node
// A device process for the file transfer tests: the SDK with virtual directories, printing its
// file audit records and status changes as JSON lines. Test hooks: --flip-chunk N changes one
// byte of sealed chunk N the first time this device sends it; --service answers `ping` on Thing
// --thing for latency measurements.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { EdgeClient } from "@outpost/sdk";

const { values: a } = parseArgs({
  options: {
    bundle: { type: "string" },
    url: { type: "string" },
    vdir: { type: "string", multiple: true, default: [] },
    "max-file-bytes": { type: "string" },
    "flip-chunk": { type: "string" },
    thing: { type: "string" },
  },
});
const read = (f) => readFileSync(join(a.bundle, f), "utf8");
const log = (r) => process.stdout.write(`${JSON.stringify(r)}\n`);
const virtualDirs = Object.fromEntries(a.vdir.map((v) => [v.slice(0, v.indexOf("=")), v.slice(v.indexOf("=") + 1)]));
const client = new EdgeClient({
  url: a.url,
  appKey: read("app-key").trim(),
  tls: { ca: read("ca.pem"), cert: read("device.pem"), key: read("device.key") },
  reconnect: { initialDelayMs: 100, maxDelayMs: 500 },
  logger: { debug() {}, info() {}, warn() {}, error() {} },
  files: {
    virtualDirs,
    ...(a["max-file-bytes"] && { maxFileBytes: Number(a["max-file-bytes"]) }),
    audit: (e) => log({ audit: e }),
  },
});
if (a["flip-chunk"] !== undefined) {
  const target = Number(a["flip-chunk"]);
  let flipped = false;
  client.files.hooks = {
    onSealedChunk: (i, sealed) => {
      if (i === target && !flipped) {
        flipped = true;
        sealed[7] ^= 0x01;
        log({ flipped: i });
      }
    },
  };
}
if (a.thing) client.thing(a.thing).service("ping", () => "pong");
client.on("status", (s) => log({ status: s.type }));
process.on("SIGTERM", () => void client.close({ flush: false }).then(() => process.exit(0)));
await client.connect();
