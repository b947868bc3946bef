// Codec benchmark: encode+decode of representative Outpost frames with @outpost/protocol (protobuf,
// static code, including the decoder's limit checks) against plain JSON.stringify+JSON.parse of the
// same object (Uint8Array fields serialize as JSON does them, as an index-keyed object; no copying, no
// reviver). The two sides are interleaved: A B A B rounds of `ms` each, so load on the machine hits
// both alike. Prints the median msgs/s of each, the median of the per-round ratios with its range
// (min–max over rounds), and encoded sizes. Run after `npm run build`:
//   node bench/codec/run.mjs [--ms=100] [--rounds=7]
import { decodeFrame, encodeFrame } from "@outpost/protocol";

const arg = (name, def) => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? def);
const budgetMs = arg("ms", 100);
const rounds = arg("rounds", 7);
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

/** Calls `fn` in batches sized to about 1 ms for `budgetMs`; returns calls per second. */
function measure(fn, batch) {
  let n = 0;
  const start = process.hrtime.bigint();
  const end = start + BigInt(budgetMs) * 1_000_000n;
  let now = start;
  while (now < end) {
    for (let i = 0; i < batch; i++) fn();
    n += batch;
    now = process.hrtime.bigint();
  }
  return n / (Number(now - start) / 1e9);
}

/** Warms `fn` up for about 50 ms and returns a batch size of about 1 ms. */
function warmUp(fn) {
  let n = 0;
  const start = performance.now();
  while (performance.now() - start < 50 || n < 3) {
    fn();
    n++;
  }
  return Math.max(1, Math.round(n / (performance.now() - start)));
}

const median = (xs) => {
  const s = [...xs].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

let sink = 0;
const rows = [];
for (const [name, envelope] of Object.entries(cases)) {
  const pb = encodeFrame(envelope);
  const jsonBytes = Buffer.from(JSON.stringify(envelope));
  const pbSide = () => {
    const bytes = encodeFrame(envelope);
    sink += decodeFrame(bytes).requestId;
  };
  const jsonSide = () => {
    const bytes = Buffer.from(JSON.stringify(envelope));
    sink += JSON.parse(bytes.toString("utf8")).requestId ?? 0;
  };
  const pbBatch = warmUp(pbSide);
  const jsonBatch = warmUp(jsonSide);
  const pbRates = [];
  const jsonRates = [];
  const ratios = [];
  for (let r = 0; r < rounds; r++) {
    const p = measure(pbSide, pbBatch);
    const j = measure(jsonSide, jsonBatch);
    pbRates.push(p);
    jsonRates.push(j);
    ratios.push(p / j);
  }
  rows.push({
    name,
    pbRate: median(pbRates),
    jsonRate: median(jsonRates),
    ratio: median(ratios),
    lo: Math.min(...ratios),
    hi: Math.max(...ratios),
    pbSize: pb.byteLength,
    jsonSize: jsonBytes.byteLength,
  });
}

const fmt = (n) => Math.round(n).toLocaleString("en-US");
console.log(
  `codec benchmark, node ${process.version}, ${rounds} interleaved rounds of ${budgetMs} ms per side (encode+decode per message)`,
);
console.log(
  "frame".padEnd(28) +
    "protobuf msg/s".padStart(16) +
    "JSON msg/s".padStart(14) +
    "ratio".padStart(8) +
    "range".padStart(16) +
    "pb bytes".padStart(10) +
    "JSON bytes".padStart(12) +
    "size".padStart(7),
);
for (const r of rows) {
  console.log(
    r.name.padEnd(28) +
      fmt(r.pbRate).padStart(16) +
      fmt(r.jsonRate).padStart(14) +
      `${r.ratio.toFixed(2)}x`.padStart(8) +
      `${r.lo.toFixed(2)}–${r.hi.toFixed(2)}x`.padStart(16) +
      String(r.pbSize).padStart(10) +
      String(r.jsonSize).padStart(12) +
      `${((100 * r.pbSize) / r.jsonSize).toFixed(0)}%`.padStart(7),
  );
}
console.log(
  "msg/s = median over rounds; ratio = median of per-round protobuf ÷ JSON (higher is better), range = min–max;",
);
console.log("size = protobuf bytes ÷ JSON bytes (JSON.stringify writes a Uint8Array as an index-keyed object).");
if (sink === -1) console.log(sink);
