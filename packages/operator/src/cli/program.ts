import { Command, CommanderError } from "commander";
import { ErrorCode, isOutpostError } from "@outpost/protocol";
import { dataCommands } from "./data-commands.js";
import { filesCommand } from "./files-commands.js";
import { loginCommands } from "./login-commands.js";
import { tunnelCommands } from "./tunnel-commands.js";
import type { GlobalOptions } from "./context.js";

/** Exit statuses: 0 ok, 1 the operation failed, 2 usage or configuration. */
export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

function program(): Command {
  const p = new Command("outpost")
    .description("Operator client of an Outpost server: devices, Things, properties, services, events, files.")
    .option("--profile <name>", "use this saved profile (default: the one last logged in to)")
    .option("--server <url>", "server URL (overrides OUTPOST_SERVER and the profile)")
    .option("--ca <file>", "CA certificate file (overrides OUTPOST_CA and the profile)")
    .option("--timeout <ms>", "how long to wait for the server, in ms (default 30000)")
    .option("--json", "print JSON instead of a table")
    .option("--debug", "print the stack of an error")
    .showHelpAfterError()
    .addHelpText(
      "after",
      [
        "",
        "Environment: OUTPOST_SERVER, OUTPOST_CA (file), OUTPOST_TOKEN, OUTPOST_DEVICE_CA (file) override the profile; NO_COLOR disables colour.",
        "Exit status: 0 ok, 1 the operation failed, 2 usage or configuration error.",
        "",
        "Example:",
        "  $ outpost login --server https://127.0.0.1:8444 --ca ca.pem --token-file admin.token",
        "  $ outpost things",
      ].join("\n"),
    );
  for (const c of [...loginCommands(), ...dataCommands(), ...tunnelCommands(), filesCommand()]) p.addCommand(c);
  return p;
}

function applyExitOverride(cmd: Command): void {
  cmd.exitOverride();
  for (const c of cmd.commands) applyExitOverride(c);
}

/** Runs the CLI and returns its exit status; errors are printed as one sentence with their code. */
export async function runCli(argv: string[]): Promise<number> {
  const p = program();
  applyExitOverride(p);
  try {
    await p.parseAsync(argv, { from: "user" });
    return EXIT_OK;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === "commander.helpDisplayed" || err.code === "commander.version" || err.code === "commander.help") {
        return EXIT_OK;
      }
      return EXIT_USAGE;
    }
    const debug = (p.opts() as GlobalOptions).debug === true || argv.includes("--debug");
    return report(err, debug);
  }
}

function report(err: unknown, debug: boolean): number {
  if (isOutpostError(err)) {
    process.stderr.write(`outpost: ${sentence(err.message)} (${err.code})\n`);
    if (debug && err.stack) process.stderr.write(`${err.stack}\n`);
    return err.code === ErrorCode.InvalidConfig ? EXIT_USAGE : EXIT_FAILED;
  }
  process.stderr.write(`outpost: unexpected failure: ${sentence(String((err as Error)?.message ?? err))}\n`);
  if (debug && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
  return EXIT_FAILED;
}

function sentence(message: string): string {
  const one = message.replace(/\s+/g, " ").trim();
  return one.endsWith(".") ? one.slice(0, -1) : one;
}
