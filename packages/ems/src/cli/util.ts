import { isOutpostError, ErrorCode } from "@outpost/protocol";
import type { Command } from "commander";
import { resolveDir } from "../config/paths.js";

/** Exit codes of `outpost-ems`: 0 ok, 1 failure, 2 usage or configuration. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** Thrown by commands to end with a given exit code after printing `message` on stderr. */
export class ExitError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

/** Adds the shared `--dir` option. */
export function withDir(cmd: Command): Command {
  return cmd.option(
    "--dir <dir>",
    "EMS directory (default $OUTPOST_EMS_DIR, /etc/outpost-ems for root, else ~/.config/outpost-ems)",
  );
}

/** The directory a command works on. */
export function dirOf(opts: { dir?: string }): string {
  return resolveDir(opts.dir);
}

/** The exit code for an error: configuration problems are 2, the rest 1. */
export function exitCodeOf(err: unknown): number {
  if (err instanceof ExitError) return err.exitCode;
  if (isOutpostError(err, ErrorCode.InvalidConfig) || isOutpostError(err, ErrorCode.Conflict)) return EXIT_USAGE;
  return EXIT_FAILURE;
}

/** Appends an "Examples:" block to a command's help. */
export function examples(cmd: Command, lines: string[]): Command {
  return cmd.addHelpText("after", `\nExamples:\n${lines.map((l) => `  $ ${l}`).join("\n")}\n`);
}
