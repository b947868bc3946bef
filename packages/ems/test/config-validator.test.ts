import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Conf from "conf";
import { afterEach, describe, expect, it } from "vitest";
// @ts-expect-error: a build script without type declarations
import { generateConfigValidator, VALIDATOR_FILE } from "../scripts/gen-config-validator.mjs";
import { PrecompiledConf } from "../src/config/precompiled-conf.js";
import { CONFIG_SCHEMA } from "../src/config/schema.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A directory holding `config.json` with `data`. */
function configDir(data: unknown): string {
  const cwd = mkdtempSync(join(tmpdir(), "ems-validator-"));
  dirs.push(cwd);
  writeFileSync(join(cwd, "config.json"), JSON.stringify(data));
  return cwd;
}

/** What opening the file says: the store read back, or the error's message. */
function outcome(open: () => Conf<Record<string, unknown>> | PrecompiledConf): unknown {
  try {
    return { store: open().store };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

/** Name, file content, whether it is valid. */
const CASES: Array<[string, unknown, boolean?]> = [
  ["empty", {}, true],
  [
    "valid",
    { server: { url: "wss://h:1/edge", fallbackUrls: ["ws://b:2"] }, queue: { maxBytes: 65536, fsync: "always" } },
    true,
  ],
  ["wrong pattern", { server: { url: "http://not-ws" } }],
  ["wrong type", { queue: { maxBytes: "lots" } }],
  ["below minimum", { queue: { maxBytes: 100, segmentBytes: 1 } }],
  ["not in enum", { queue: { fsync: "sometimes" } }],
  ["unknown field", { server: { url: "wss://h", bogus: true } }],
  ["wrong version", { version: 2 }],
  ["identity named default", { identities: { default: {} } }],
  ["bad identity name", { identities: { "Bad Name": {} } }],
  ["bad field in an identity", { identities: { b: { server: { url: "ftp://x" } } } }],
  ["tcp address", { local: { tcp: "no-port" } }],
  ["several errors", { server: { url: 1 }, local: { token: 2 }, queue: { fsync: 3 } }],
];

describe("config validator - generated at build time from CONFIG_SCHEMA", () => {
  it("the generated file is current with src/config/schema.ts (npm run build regenerates it)", async () => {
    expect(readFileSync(VALIDATOR_FILE, "utf8")).toBe(await generateConfigValidator());
  });

  it.each(CASES)("%s: same defaults and same errors as conf compiling the schema with ajv", (_name, data, valid) => {
    const withAjv = outcome(
      () => new Conf({ cwd: configDir(data), configName: "config", schema: CONFIG_SCHEMA as never }),
    );
    const generated = outcome(() => new PrecompiledConf({ cwd: configDir(data), configName: "config" }));
    expect(generated).toEqual(withAjv);
    expect(Object.keys(generated as object)).toEqual([valid ? "store" : "error"]);
  });

  it("a schema violation names the field in conf's words", () => {
    const cwd = configDir({ server: { url: "http://not-ws" } });
    expect(() => new PrecompiledConf({ cwd, configName: "config" })).toThrow(
      'Config schema violation: `server/url` must match pattern "^wss?://"',
    );
  });
});
