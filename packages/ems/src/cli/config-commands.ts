import { Command } from "commander";
import { EmsConfig } from "../config/ems-config.js";
import { fieldOf, identityKey } from "../config/identity.js";
import { CONFIG_SCHEMA } from "../config/schema.js";
import { checkConnection } from "../daemon/check.js";
import { dirOf, examples, ExitError, EXIT_FAILURE, withDir } from "./util.js";

type DirOpts = { dir?: string; identity?: string };

const IDENTITY_OPTION = [
  "--identity <name>",
  "a field of this device identity (identities.NAME.KEY); default: the default identity",
] as const;

/** `outpost-ems config get|set|unset|list|check`. */
export function configCommand(): Command {
  const config = examples(new Command("config").description("read and change DIR/config.json"), [
    "outpost-ems config list",
    "outpost-ems config set server.url wss://outpost.example.com:8443/edge",
    "outpost-ems config set proxy.password 's3cret' --secret",
    'outpost-ems config set things \'[{"name":"pump-1","services":["reset"]}]\'',
    'outpost-ems config set things \'[{"name":"meter-2"}]\' --identity metering',
    "outpost-ems config check",
  ]);

  withDir(config.command("get"))
    .description("print one field (secrets print as <encrypted> unless --reveal)")
    .argument("<key>", "dotted field name, e.g. server.url")
    .option("--reveal", "decrypt and print a secret")
    .option(...IDENTITY_OPTION)
    .action((field: string, o: DirOpts & { reveal?: boolean }) => {
      const key = identityKey(o.identity, field);
      const v = EmsConfig.open(dirOf(o)).get(key, { reveal: o.reveal === true });
      if (v === undefined) throw new ExitError(`${key} is not set`, EXIT_FAILURE);
      console.log(typeof v === "string" ? v : JSON.stringify(v));
    });

  withDir(config.command("set"))
    .description("set one field; secret fields are always stored encrypted")
    .argument("<key>", "dotted field name")
    .argument("<value>", "the value; JSON for numbers, booleans, lists and objects")
    .option("--secret", "store the value encrypted")
    .option(...IDENTITY_OPTION)
    .action((field: string, value: string, o: DirOpts & { secret?: boolean }) => {
      const config = EmsConfig.open(dirOf(o));
      if (o.identity !== undefined) identityOfConfig(config, o.identity);
      const key = identityKey(o.identity, field);
      config.set(key, parseValue(key, value), { secret: o.secret === true });
    });

  withDir(config.command("unset"))
    .description("remove one field")
    .argument("<key>", "dotted field name")
    .option(...IDENTITY_OPTION)
    .action((field: string, o: DirOpts) => EmsConfig.open(dirOf(o)).unset(identityKey(o.identity, field)));

  withDir(config.command("list"))
    .description("print every field; secrets as <encrypted>")
    .option("--json", "one JSON object")
    .action((o: DirOpts & { json?: boolean }) => {
      const entries = EmsConfig.open(dirOf(o)).list();
      if (o.json) console.log(JSON.stringify(Object.fromEntries(entries), null, 2));
      else
        for (const [k, v] of entries) console.log(`${k} = ${typeof v === "string" ? oneLine(v) : JSON.stringify(v)}`);
    });

  withDir(config.command("check"))
    .description("validate the file and the secrets, then try to connect and say what is wrong")
    .option("--timeout <ms>", "connection attempt limit", "15000")
    .option("--identity <name>", "check only this identity; default: every identity in turn")
    .action(async (o: DirOpts & { timeout: string }) => {
      const config = EmsConfig.open(dirOf(o));
      const all = config.identities();
      const chosen = o.identity === undefined ? all : [identityOfConfig(config, o.identity)];
      let failed: { problem?: string; exitCode: number } | undefined;
      for (const identity of chosen) {
        if (all.length > 1) console.log(`identity ${identity.name}`);
        const result = await checkConnection(config, { timeoutMs: Number(o.timeout), identity });
        for (const line of result.lines) console.log(line);
        if (!result.ok && (failed === undefined || result.exitCode > failed.exitCode)) failed = result;
      }
      if (failed) {
        const what = chosen.length > 1 ? "a check failed (see above)" : (failed.problem ?? "the check failed");
        throw new ExitError(what, failed.exitCode);
      }
    });
  return config;
}

function identityOfConfig(config: EmsConfig, name: string) {
  const found = config.identities().find((i) => i.name === name);
  if (!found) {
    throw new ExitError(
      `no identity ${JSON.stringify(name)} (identities: ${config
        .identities()
        .map((i) => i.name)
        .join(", ")}): add one with outpost-ems init --bundle B --identity ${name}`,
      2,
    );
  }
  return found;
}

/** Strings stay strings unless the schema wants another type, then the value is JSON. */
function parseValue(fullKey: string, value: string): unknown {
  const key = fieldOf(fullKey);
  const top = (CONFIG_SCHEMA as Record<string, { type?: string; properties?: Record<string, { type?: string }> }>)[
    key.split(".")[0]!
  ];
  const type = key.includes(".") ? top?.properties?.[key.split(".")[1]!]?.type : top?.type;
  if (type === undefined || type === "string") return value;
  try {
    return JSON.parse(value) as unknown;
  } catch {
    throw new ExitError(`${key} takes JSON (${type}); got ${JSON.stringify(value)}`, 2);
  }
}

function oneLine(v: string): string {
  return v.includes("\n") ? `${v.split("\n")[0]}... (${v.length} characters)` : v;
}
