import { Command } from "commander";
import { EmsConfig } from "../config/ems-config.js";
import { CONFIG_SCHEMA } from "../config/schema.js";
import { checkConnection } from "../daemon/check.js";
import { dirOf, examples, ExitError, EXIT_FAILURE, withDir } from "./util.js";

type DirOpts = { dir?: string };

/** `outpost-ems config get|set|unset|list|check`. */
export function configCommand(): Command {
  const config = examples(new Command("config").description("read and change DIR/config.json"), [
    "outpost-ems config list",
    "outpost-ems config set server.url wss://outpost.example.com:8443/edge",
    "outpost-ems config set proxy.password 's3cret' --secret",
    'outpost-ems config set things \'[{"name":"pump-1","services":["reset"]}]\'',
    "outpost-ems config check",
  ]);

  withDir(config.command("get"))
    .description("print one field (secrets print as <encrypted> unless --reveal)")
    .argument("<key>", "dotted field name, e.g. server.url")
    .option("--reveal", "decrypt and print a secret")
    .action((key: string, o: DirOpts & { reveal?: boolean }) => {
      const v = EmsConfig.open(dirOf(o)).get(key, { reveal: o.reveal === true });
      if (v === undefined) throw new ExitError(`${key} is not set`, EXIT_FAILURE);
      console.log(typeof v === "string" ? v : JSON.stringify(v));
    });

  withDir(config.command("set"))
    .description("set one field; secret fields are always stored encrypted")
    .argument("<key>", "dotted field name")
    .argument("<value>", "the value; JSON for numbers, booleans, lists and objects")
    .option("--secret", "store the value encrypted")
    .action((key: string, value: string, o: DirOpts & { secret?: boolean }) => {
      EmsConfig.open(dirOf(o)).set(key, parseValue(key, value), { secret: o.secret === true });
    });

  withDir(config.command("unset"))
    .description("remove one field")
    .argument("<key>", "dotted field name")
    .action((key: string, o: DirOpts) => EmsConfig.open(dirOf(o)).unset(key));

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
    .action(async (o: DirOpts & { timeout: string }) => {
      const result = await checkConnection(EmsConfig.open(dirOf(o)), { timeoutMs: Number(o.timeout) });
      for (const line of result.lines) console.log(line);
      if (!result.ok) throw new ExitError(result.problem ?? "the check failed", result.exitCode);
    });
  return config;
}

/** Strings stay strings unless the schema wants another type, then the value is JSON. */
function parseValue(key: string, value: string): unknown {
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
