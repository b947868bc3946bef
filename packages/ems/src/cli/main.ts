import { Command, CommanderError } from "commander";
import { EmsConfig } from "../config/ems-config.js";
import { initEmsDir } from "../config/init.js";
import { EMS_VERSION } from "../version.js";
import { configCommand } from "./config-commands.js";
import { daemonCommands } from "./daemon-commands.js";
import { identitiesCommand } from "./identity-commands.js";
import { tunnelsCommand } from "./tunnel-commands.js";
import { dirOf, examples, EXIT_OK, EXIT_USAGE, ExitError, exitCodeOf, withDir } from "./util.js";

export { EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from "./util.js";

type Opts = Record<string, string | boolean | undefined> & { dir?: string };

/** The `outpost-ems` command tree. */
export function buildProgram(): Command {
  const program = new Command("outpost-ems")
    .description("Outpost Edge MicroServer: one device connection, a local API for other processes")
    .version(EMS_VERSION)
    .showHelpAfterError()
    .exitOverride();
  examples(program, [
    "outpost-ems init --dir /etc/outpost-ems --bundle ./bundle-pump-1",
    "outpost-ems config check",
    "outpost-ems start",
    "outpost-ems status --json",
  ]);

  examples(
    withDir(program.command("init"))
      .description("create the EMS directory from an onboarding bundle (outpost-server device add) or separate files")
      .option("--bundle <dir>", "the --out directory of outpost-server device add")
      .option("--url <url>", "server endpoint, wss://host:port/edge (default: the bundle's)")
      .option("--server <url>", "same as --url")
      .option("--app-key-file <file>", "file holding the application key (opk_...)")
      .option("--ca <file>", "CA certificate of the server (PEM)")
      .option("--cert <file>", "device certificate (PEM)")
      .option("--key <file>", "device private key (PEM, possibly encrypted)")
      .option("--passphrase-file <file>", "file holding the device key's passphrase")
      .option("--proxy <url>", "HTTP proxy, http://[user:password@]host:port")
      .option(
        "--identity <name>",
        "add the bundle as a further device identity with its own connection and Things (the directory must be initialised)",
      )
      .option("--force", "move an existing config.json aside and start over (with --identity: replace that identity)"),
    [
      "outpost-ems init --dir /etc/outpost-ems --bundle ./bundle-pump-1",
      "outpost-ems init --bundle ./bundle --url wss://outpost.example.com:8443/edge",
      "outpost-ems init --server wss://10.0.0.5:8443/edge --ca ca.pem --cert device.pem --key device.key --app-key-file app-key",
      "outpost-ems init --dir /etc/outpost-ems --bundle ./bundle-meter-2 --identity metering",
    ],
  ).action((o: Opts) => {
    const str = (k: string): string | undefined => (typeof o[k] === "string" ? (o[k] as string) : undefined);
    const r = initEmsDir({
      dir: dirOf(o),
      ...defined({
        bundle: str("bundle"),
        url: str("url") ?? str("server"),
        appKeyFile: str("appKeyFile"),
        ca: str("ca"),
        cert: str("cert"),
        key: str("key"),
        passphraseFile: str("passphraseFile"),
        proxy: str("proxy"),
        identity: str("identity"),
      }),
      force: o.force === true,
    });
    const what = r.identity === "default" ? "" : ` identity ${r.identity}:`;
    process.stderr.write(
      `initialised ${r.dir}${what} for device ${r.deviceId} (${r.url}), Things: ${r.things.join(", ") || "none"}\n` +
        (r.dataKeyCreated
          ? `data key written to ${r.dir}/data.key (mode 0600): back it up apart from the directory\n`
          : ""),
    );
  });

  program.addCommand(configCommand());
  program.addCommand(identitiesCommand());

  examples(
    withDir(program.command("local-token")).description(
      "print the bearer token of the local TCP API (for the owner of the EMS directory)",
    ),
    ['curl -H "Authorization: Bearer $(outpost-ems local-token)" http://127.0.0.1:8787/status'],
  ).action((o: Opts) => {
    const token = EmsConfig.open(dirOf(o)).secret("local.token");
    if (!token) throw new ExitError("local.token is not set", EXIT_USAGE);
    console.log(token);
  });

  for (const c of daemonCommands()) program.addCommand(c);
  program.addCommand(tunnelsCommand());
  return program;
}

/** Runs the CLI on `argv` (as `process.argv`) and resolves to the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  for (const c of program.commands) {
    c.exitOverride();
    for (const s of c.commands) s.exitOverride();
  }
  try {
    await program.parseAsync(argv);
    return EXIT_OK;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (["commander.version", "commander.helpDisplayed", "commander.help"].includes(err.code)) return EXIT_OK;
      return EXIT_USAGE;
    }
    process.stderr.write(`outpost-ems: ${err instanceof Error ? err.message : String(err)}\n`);
    return exitCodeOf(err);
  }
}

function defined<T extends Record<string, unknown>>(o: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as never;
}
