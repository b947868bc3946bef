// Regenerates src/generated/ from proto/outpost.proto with protobufjs static code, and copies the
// generated JavaScript next to the compiled output (tsc does not copy .js inputs).
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "src", "generated");
const dist = join(root, "dist", "generated");
const cli = dirname(createRequire(import.meta.url).resolve("protobufjs-cli/package.json"));
const proto = join(root, "proto", "outpost.proto");
const js = join(out, "outpost.js");
const dts = join(out, "outpost.d.ts");
mkdirSync(out, { recursive: true });
mkdirSync(dist, { recursive: true });

const pbjsFlags = ["--force-number", "--no-convert", "--no-delimited", "--no-typeurl", "--no-verify"];
execFileSync(
  process.execPath,
  [join(cli, "bin", "pbjs"), "-t", "static-module", "-w", "es6", ...pbjsFlags, "-o", js, proto],
  {
    stdio: "inherit",
  },
);
// 64-bit fields are plain numbers (timestamps, sequence numbers): no Long objects leak out,
// without reconfiguring the process-wide protobufjs instance. The protocol keeps them within
// ±(2^53−1) (docs/protocol.md §2): a value beyond it is refused both ways instead of rounded, with
// an Int64RangeError that the codec turns into a typed error.
const int64 =
  "class Int64RangeError extends RangeError {}\n" +
  "const $range = (v, unsigned) => {\n" +
  '  if (!Number.isSafeInteger(v) || (unsigned && v < 0)) throw new Int64RangeError(`64-bit integer ${String(v)} is outside ${unsigned ? "0" : "-(2^53-1)"}..2^53-1`);\n' +
  "  return v;\n" +
  "};\n" +
  'const $num = (v, unsigned) => $range(typeof v === "number" ? v : v.toNumber(), unsigned);\n' +
  "const $u64 = (r) => $num(r.uint64(), true), $s64 = (r) => $num(r.sint64(), false);\n" +
  'const $wu64 = (v) => (typeof v === "number" ? $range(v, true) : v), $ws64 = (v) => (typeof v === "number" ? $range(v, false) : v);\n';
// Map entries are written in ascending order of their keys' UTF-8 bytes (code point order), so an
// envelope encodes to the same bytes whatever order its map was built in (docs/protocol.md §11).
const mapOrder =
  "const $byCodePoint = (a, b) => {\n" +
  "  for (let i = 0, j = 0; i < a.length && j < b.length; ) {\n" +
  "    const x = a.codePointAt(i), y = b.codePointAt(j);\n" +
  "    if (x !== y) return x - y;\n" +
  "    i += x > 0xffff ? 2 : 1;\n" +
  "    j += y > 0xffff ? 2 : 1;\n" +
  "  }\n" +
  "  return a.length - b.length;\n" +
  "};\n";
const src = readFileSync(js, "utf8")
  .replace(/^import \$protobuf from "protobufjs\/minimal\.js";$/m, (line) => `${line}\n${int64}${mapOrder}`)
  .replace(/\$util\.Long \? \$util\.Long\.fromBits\(0,0,(true|false)\) : 0/g, "0")
  .replace(/reader\.uint64\(\)/g, () => "$u64(reader)")
  .replace(/reader\.sint64\(\)/g, () => "$s64(reader)")
  .replace(/\.uint64\((message\.[A-Za-z0-9_]+)\)/g, (_m, field) => `.uint64($wu64(${field}))`)
  .replace(/\.sint64\((message\.[A-Za-z0-9_]+)\)/g, (_m, field) => `.sint64($ws64(${field}))`)
  .replace(
    /\$Object\.keys\((message\.[A-Za-z0-9_]+)\), i = 0/g,
    (_m, field) => `$Object.keys(${field}).sort($byCodePoint), i = 0`,
  );
writeFileSync(js, `// Generated from proto/outpost.proto by scripts/gen.mjs. Do not edit.\n${src}`);
execFileSync(process.execPath, [join(cli, "bin", "pbts"), "-o", dts, js], { stdio: "inherit" });
copyFileSync(js, join(dist, "outpost.js"));
copyFileSync(dts, join(dist, "outpost.d.ts"));
