import { Command, CommanderError } from "commander";
import { EMS_VERSION } from "../version.js";

/** Exit codes of `outpost-ems`: 0 ok, 1 failure, 2 usage or configuration. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** The `outpost-ems` command tree. */
export function buildProgram(): Command {
  return new Command("outpost-ems")
    .description("Outpost Edge MicroServer: one device connection, a local API for other processes")
    .version(EMS_VERSION)
    .showHelpAfterError()
    .exitOverride();
}

/** Runs the CLI on `argv` (as `process.argv`) and resolves to the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return EXIT_OK;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === "commander.version" || err.code === "commander.helpDisplayed" || err.code === "commander.help")
        return EXIT_OK;
      return EXIT_USAGE;
    }
    process.stderr.write(`outpost-ems: ${err instanceof Error ? err.message : String(err)}\n`);
    return EXIT_FAILURE;
  }
}
