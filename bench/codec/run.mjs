// Codec benchmark: encode+decode of representative Outpost frames with @outpost/protocol (protobuf,
// static code, including the decoder's limit checks) against JSON.stringify+JSON.parse of the same
// content (bytes as base64, text as UTF-8 bytes, as a JSON wire protocol would need), measured in the
// same run. Prints msgs/s for both, the ratio, and encoded sizes. Run after `npm run build`:
//   node bench/codec/run.mjs [--ms=400]
import { decodeFrame, encodeFrame } from "@outpost/protocol";

const msArg = process.argv.find((a) => a.startsWith("--ms="));
const budgetMs = msArg ? Number(msArg.slice(5)) : 400;
const t = 1767225600000;

const cases = {
  "property batch (10 values)": {
    requestId: 41,
    propertyUpdate: {
      values: Array.from({ length: 10 }, (_, i) => ({
        thing: "plant-3.pump-17",
        name: `sensor_${i}`,
        value: i % 3 === 0 ? { numberValue: 21.5 + i } : i % 3 === 1 ? { intValue: 1000 + i } : { stringValue: "auto" },
        timestampMs: t + i,
        seq: 5000 + i,
      })),
    },
  },
  "service invoke with params": {
    requestId: 42,
    serviceInvoke: {
      thing: "plant-3.pump-17",
      service: "calibrate",
      params: {
        offset: { numberValue: -0.5 },
        steps: { intValue: 3 },
        label: { stringValue: "field calibration" },
        verify: { boolValue: true },
        profile: { jsonValue: '{"points":[1,2,3]}' },
      },
      timeoutMs: 5000,
    },
  },
  "keep-alive": { keepAlive: { timestampMs: t } },
  "multipart 64 KiB payload": {
    multipart: {
      messageId: 7,
      index: 1,
      count: 4,
      totalBytes: 262144,
      payload: Uint8Array.from({ length: 65536 }, (_, i) => (i * 31 + 7) & 0xff),
    },
  },
};

/** The same content as a JSON protocol would carry it: bytes as base64. */
function toJsonable(v) {
  if (v instanceof Uint8Array) return { $b64: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("base64") };
  if (Array.isArray(v)) return v.map(toJsonable);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toJsonable(x)]));
  return v;
}
function reviveBytes(_k, v) {
  return v && typeof v === "object" && typeof v.$b64 === "string" ? new Uint8Array(Buffer.from(v.$b64, "base64")) : v;
}

function measure(fn) {
  for (let i = 0; i < 200; i++) fn(); // warm up
  let n = 0;
  const start = process.hrtime.bigint();
  const end = start + BigInt(budgetMs) * 1_000_000n;
  let now = start;
  while (now < end) {
    for (let i = 0; i < 50; i++) fn();
    n += 50;
    now = process.hrtime.bigint();
  }
  return n / (Number(now - start) / 1e9);
}

let sink = 0;
const rows = [];
for (const [name, envelope] of Object.entries(cases)) {
  const pb = encodeFrame(envelope);
  const jsonBytes = Buffer.from(JSON.stringify(toJsonable(envelope)));
  const pbRate = measure(() => {
    const bytes = encodeFrame(envelope);
    sink += decodeFrame(bytes).requestId;
  });
  const jsonRate = measure(() => {
    const bytes = Buffer.from(JSON.stringify(toJsonable(envelope)));
    sink += JSON.parse(bytes.toString("utf8"), reviveBytes).requestId ?? 0;
  });
  rows.push({ name, pbRate, jsonRate, pbSize: pb.byteLength, jsonSize: jsonBytes.byteLength });
}

const fmt = (n) => Math.round(n).toLocaleString("en-US");
console.log(`codec benchmark, node ${process.version}, ${budgetMs} ms per measurement (encode+decode per message)`);
console.log(
  "frame".padEnd(28) +
    "protobuf msg/s".padStart(16) +
    "JSON msg/s".padStart(14) +
    "ratio".padStart(8) +
    "pb bytes".padStart(10) +
    "JSON bytes".padStart(12) +
    "size".padStart(7),
);
for (const r of rows) {
  console.log(
    r.name.padEnd(28) +
      fmt(r.pbRate).padStart(16) +
      fmt(r.jsonRate).padStart(14) +
      `${(r.pbRate / r.jsonRate).toFixed(2)}x`.padStart(8) +
      String(r.pbSize).padStart(10) +
      String(r.jsonSize).padStart(12) +
      `${((100 * r.pbSize) / r.jsonSize).toFixed(0)}%`.padStart(7),
  );
}
console.log("ratio = protobuf msgs/s ÷ JSON msgs/s (higher is better); size = protobuf bytes ÷ JSON bytes.");
if (sink === -1) console.log(sink);
