// Writes the golden vectors in vectors/: for each body kind, <name>.bin (one encoded frame),
// <name>.json (the envelope, human-readable, bytes fields as hex) and <name>.txtpb (the envelope in
// protobuf text format, for `protoc --encode`); and vectors/multipart-set/, one message split into
// parts with its reassembly. Every .bin is checked against `protoc --encode` (Debian package
// protobuf-compiler), an encoder independent of the code under test. Run after `npm run build`:
//   node packages/protocol/scripts/make-vectors.mjs
// The vectors are part of the wire contract: regenerate them only for an additive schema change,
// and review the diff.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { decodeFrame, encodeFrame, splitMessage } from "../dist/index.js";
import { protocEncode } from "./protoc.mjs";
import { envelopeToText } from "./text-format.mjs";
import { canonical, envelopeToJson, jsonToEnvelope } from "./vector-json.mjs";

const out = join(dirname(fileURLToPath(import.meta.url)), "..", "vectors");
mkdirSync(out, { recursive: true });

const t = 1767225600000; // 2026-01-01T00:00:00Z
const payload = Uint8Array.from({ length: 48 }, (_, i) => (i * 37 + 11) & 0xff);

/** name -> [description, envelope]. One per body kind, in schema order. */
const vectors = {
  hello: [
    "Device's first frame: version range, capabilities, receive limits, agent",
    {
      requestId: 1,
      hello: {
        minVersion: 1,
        maxVersion: 2,
        capabilities: ["multipart", "event-batch"],
        limits: {
          maxFrameBytes: 1048576,
          maxMessageBytes: 16777216,
          maxBatch: 1000,
          maxStringBytes: 65536,
          maxConcurrentRequests: 256,
        },
        agent: "outpost-sdk/0.1.0 node/20.20.2",
      },
    },
  ],
  "hello-ack": [
    "Server's answer to hello (request 1): chosen version, shared capabilities, its limits",
    {
      requestId: 1,
      helloAck: {
        version: 2,
        capabilities: ["multipart", "event-batch"],
        limits: { maxFrameBytes: 262144 },
        serverId: "edge-1",
      },
    },
  ],
  auth: [
    "Application key claim, sent as request 2",
    { requestId: 2, auth: { appKey: "opk_k1_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" } },
  ],
  "auth-result": [
    "Successful authentication of request 2",
    { requestId: 2, authResult: { status: 200, deviceId: "pump-17", sessionId: "s-0001" } },
  ],
  bind: ["Bind two Things, request 3", { requestId: 3, bind: { things: ["pump-17", "pump-17.valve"] } }],
  unbind: ["Unbind one Thing, request 4", { requestId: 4, unbind: { things: ["pump-17.valve"] } }],
  response: [
    "Error response with a stable code, a result value and per-item statuses",
    {
      requestId: 3,
      response: {
        status: 403,
        message: "not assigned to this device",
        code: "OUTPOST_FORBIDDEN",
        result: { jsonValue: '{"retry":false}' },
        items: [
          { key: "pump-17", status: 200 },
          { key: "pump-17.valve", status: 403, message: "forbidden" },
        ],
      },
    },
  ],
  "property-update": [
    "Batch of property changes covering every value kind, quality and seq",
    {
      requestId: 5,
      propertyUpdate: {
        values: [
          { thing: "pump-17", name: "running", value: { boolValue: true }, timestampMs: t, seq: 1 },
          { thing: "pump-17", name: "rpm", value: { intValue: -1234567890123 }, timestampMs: t + 1, seq: 2 },
          { thing: "pump-17", name: "temp", value: { numberValue: 21.5 }, timestampMs: t + 2, quality: 2, seq: 3 },
          { thing: "pump-17", name: "mode", value: { stringValue: "auto — ünïcode" }, timestampMs: t + 3, seq: 4 },
          { thing: "pump-17", name: "blob", value: { bytesValue: payload.subarray(0, 8) }, timestampMs: t + 4, seq: 5 },
          {
            thing: "pump-17",
            name: "cfg",
            value: { jsonValue: '{"a":[1,2]}' },
            timestampMs: t + 5,
            quality: 1,
            seq: 6,
          },
          { thing: "pump-17", name: "unset", value: {}, timestampMs: t + 6, seq: 7 },
        ],
      },
    },
  ],
  "property-read": [
    "Read two properties, request 6",
    { requestId: 6, propertyRead: { thing: "pump-17", names: ["rpm", "temp"] } },
  ],
  "property-write": [
    "Set one property, request 7",
    {
      requestId: 7,
      propertyWrite: { values: [{ thing: "pump-17", name: "setpoint", value: { numberValue: 1500.25 } }] },
    },
  ],
  "service-invoke": [
    "Invoke a service with typed parameters and a deadline, request 8",
    {
      requestId: 8,
      serviceInvoke: {
        thing: "pump-17",
        service: "calibrate",
        params: { label: { stringValue: "field" }, offset: { numberValue: -0.5 }, steps: { intValue: 3 } },
        timeoutMs: 5000,
      },
    },
  ],
  event: [
    "An event with data, acknowledged as request 9",
    {
      requestId: 9,
      event: { thing: "pump-17", name: "overheat", data: { temp: { numberValue: 98.6 } }, timestampMs: t, seq: 8 },
    },
  ],
  "keep-alive": ["Application keep-alive probe", { keepAlive: { timestampMs: t } }],
  goodbye: [
    "Orderly close with a reconnect hint",
    { goodbye: { reason: 2, message: "server restarting", reconnectAfterMs: 5000 } },
  ],
  "goodbye-version": [
    "Close after a Hello without a common version, with its stable code (1.1)",
    {
      goodbye: {
        reason: 4,
        message: "no common protocol version: peer speaks 3..4, we speak 1..2",
        code: "OUTPOST_UNSUPPORTED_VERSION",
      },
    },
  ],
  "auth-result-refused": [
    "Refused authentication of request 2, with its stable code (1.1)",
    {
      requestId: 2,
      authResult: {
        status: 401,
        message: "application key revoked",
        code: "OUTPOST_UNAUTHORIZED",
        sessionId: "s-0002",
      },
    },
  ],
  multipart: [
    "Second of three parts of a 120-byte message",
    { multipart: { messageId: 7, index: 1, count: 3, totalBytes: 120, payload } },
  ],
  "event-batch": [
    "Three consecutive queued events in seq order, acknowledged as request 10",
    {
      requestId: 10,
      eventBatch: {
        events: [
          { thing: "pump-17", name: "overheat", data: { temp: { numberValue: 98.6 } }, timestampMs: t, seq: 9 },
          { thing: "pump-17", name: "cooled", data: { temp: { numberValue: 60 } }, timestampMs: t + 1, seq: 10 },
          {
            thing: "pump-17.valve",
            name: "stuck",
            data: { note: { stringValue: "retry" }, position: { intValue: 42 } },
            timestampMs: t + 2,
            seq: 11,
          },
        ],
      },
    },
  ],
  "stream-open": [
    "The device opens stream 3 for a tunnel, with a header and a 1 MiB receive window",
    { streamId: 3, streamOpen: { type: "tunnel", header: payload.subarray(0, 6), window: 1048576 } },
  ],
  "stream-data": [
    "The last 16 bytes on stream 3, half-closing the sender's direction",
    { streamId: 3, streamData: { data: payload.subarray(0, 16), fin: true } },
  ],
  "stream-window": [
    "128 KiB of credit returned for the whole connection (stream 0)",
    { streamWindow: { increment: 131072 } },
  ],
  "stream-reset": [
    "Stream 4 refused (code 1) by the receiver",
    { streamId: 4, streamReset: { code: 1, message: "no handler for stream type file" } },
  ],
};

/** Encodes, checks the round trip and protoc, writes <dir>/<name>.{bin,json,txtpb}; returns the bytes. */
function write(dir, name, description, envelope, extra = {}) {
  const bin = encodeFrame(envelope);
  const json = envelopeToJson(decodeFrame(bin));
  if (canonical(json) !== canonical(envelopeToJson(envelope))) throw new Error(`vector ${name} does not round-trip`);
  if (Buffer.compare(encodeFrame(jsonToEnvelope(json)), bin) !== 0)
    throw new Error(`vector ${name} re-encodes differently`);
  const text = envelopeToText(json);
  const independent = protocEncode(text);
  if (independent && Buffer.compare(independent, bin) !== 0)
    throw new Error(`vector ${name}: protoc encodes it differently`);
  writeFileSync(join(dir, `${name}.bin`), bin);
  writeFileSync(join(dir, `${name}.txtpb`), text);
  const doc = { name, description, hex: Buffer.from(bin).toString("hex"), ...extra, envelope: json };
  writeFileSync(join(dir, `${name}.json`), `${JSON.stringify(doc, null, 2)}\n`);
  return { bin, checked: independent !== undefined };
}

let checked = 0;
for (const [name, [description, envelope]] of Object.entries(vectors)) {
  if (write(out, name, description, envelope).checked) checked++;
}

// A complete multipart set: one PropertyUpdate of 2,338 bytes cut for a receiver whose
// max_frame_bytes is 1024, the parts in order, and the message they reassemble to.
const setDir = join(out, "multipart-set");
mkdirSync(setDir, { recursive: true });
const maxFrameBytes = 1024;
const messageId = 7;
const long = Array.from({ length: 2300 }, (_, i) => String.fromCharCode(97 + ((i * 7) % 26))).join("");
const message = write(setDir, "message", "The whole message: a property update too large for one 1024-byte frame", {
  requestId: 11,
  propertyUpdate: {
    values: [{ thing: "pump-17", name: "log", value: { stringValue: long }, timestampMs: t, seq: 12 }],
  },
});
const parts = splitMessage(message.bin, messageId, maxFrameBytes);
parts.forEach((part, i) => {
  const r = write(
    setDir,
    `part-${i}`,
    `Part ${i} of ${parts.length} of message.bin (max_frame_bytes ${maxFrameBytes})`,
    part,
    {
      maxFrameBytes,
    },
  );
  if (r.bin.byteLength > maxFrameBytes) throw new Error(`part ${i} exceeds ${maxFrameBytes} bytes`);
});
const total = Object.keys(vectors).length + 1 + parts.length;
console.log(
  `wrote ${total} vectors to ${out} (${parts.length} multipart parts); ${checked === Object.keys(vectors).length ? "all checked" : "NOT checked"} with protoc`,
);
