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
// without reconfiguring the process-wide protobufjs instance.
const int64 =
  'const $num = (v) => (typeof v === "number" ? v : v.toNumber());\n' +
  "const $u64 = (r) => $num(r.uint64()), $s64 = (r) => $num(r.sint64());\n";
const src = readFileSync(js, "utf8")
  .replace(/^import \$protobuf from "protobufjs\/minimal\.js";$/m, (line) => `${line}\n${int64}`)
  .replace(/\$util\.Long \? \$util\.Long\.fromBits\(0,0,(true|false)\) : 0/g, "0")
  .replace(/reader\.uint64\(\)/g, () => "$u64(reader)")
  .replace(/reader\.sint64\(\)/g, () => "$s64(reader)");
writeFileSync(js, `// Generated from proto/outpost.proto by scripts/gen.mjs. Do not edit.\n${src}`);
execFileSync(process.execPath, [join(cli, "bin", "pbts"), "-o", dts, js], { stdio: "inherit" });
copyFileSync(js, join(dist, "outpost.js"));
copyFileSync(dts, join(dist, "outpost.d.ts"));
