// `protoc --encode` of the wire schema: an encoder independent of the generated code, used to check
// the golden vectors. Returns undefined when protoc is not installed (Debian: protobuf-compiler).
import { execFileSync, spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const protoDir = join(dirname(fileURLToPath(import.meta.url)), "..", "proto");

/** True when `protoc` is on the PATH. */
export function hasProtoc() {
  return spawnSync("protoc", ["--version"], { stdio: "ignore" }).status === 0;
}

/** Encodes an Envelope given in protobuf text format; undefined without protoc. Throws on a parse error. */
export function protocEncode(text) {
  if (!hasProtoc()) return undefined;
  return execFileSync("protoc", [`-I${protoDir}`, "--encode=outpost.v1.Envelope", "outpost.proto"], {
    input: text,
    cwd: protoDir,
    maxBuffer: 64 * 1024 * 1024,
  });
}
