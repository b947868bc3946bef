import { readFileSync } from "node:fs";
import { userInfo } from "node:os";
import { ErrorCode, isOutpostError, OutpostError } from "@outpost/protocol";
import type { Command } from "commander";
import type { FileAuditLog } from "../audit/audit-log.js";
import { openDataAuditLog } from "../audit/open.js";
import type { AuditEvent } from "../audit/types.js";
import { loadServerConfig, type ServerConfig } from "../config/server-config.js";
import { asyncRegistryOf } from "../registry/async-sqlite.js";
import type { AsyncRegistry } from "../registry/async-types.js";
import { SqliteRegistry } from "../registry/sqlite.js";
import { dataKeyLoader } from "../secrets/rotate.js";

/** Default data directory: $OUTPOST_DATA or ./outpost-data. */
export const DEFAULT_DATA_DIR = process.env.OUTPOST_DATA ?? "outpost-data";

/** Adds the common `--data <dir>` option. */
export function withData(cmd: Command): Command {
  return cmd.option("-d, --data <dir>", "server data directory (env OUTPOST_DATA)", DEFAULT_DATA_DIR);
}

/** Reads a passphrase from a file (first line; trailing newline removed). */
export function readPassphraseFile(path: string | undefined): string | undefined {
  if (path === undefined) return undefined;
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new OutpostError(ErrorCode.InvalidConfig, `cannot read passphrase file ${path}: ${(err as Error).message}`);
  }
  const first = text.split(/\r?\n/)[0] ?? "";
  if (first.length === 0) throw new OutpostError(ErrorCode.InvalidConfig, `passphrase file ${path} is empty`);
  return first;
}

/** Reads a text file given on the command line, with a typed error. */
export function readInputFile(path: string, what: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    throw new OutpostError(ErrorCode.InvalidConfig, `cannot read ${what} ${path}: ${(err as Error).message}`);
  }
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses "90s", "15m", "12h", "30d" or plain milliseconds into milliseconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+)(ms|s|m|h|d)?$/.exec(text.trim());
  const ms = m ? Number(m[1]) * UNITS[m[2] ?? "ms"]! : Number.NaN;
  if (!Number.isSafeInteger(ms) || ms <= 0) {
    throw new OutpostError(ErrorCode.BadRequest, `invalid duration "${text}": use e.g. 90s, 15m, 12h, 30d`);
  }
  return ms;
}

/** Parses a TCP port number (0 means "any free port"). */
export function parsePort(text: unknown, flag: string): number {
  const port = typeof text === "string" && /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new OutpostError(ErrorCode.BadRequest, `${flag} must be a port number from 0 to 65535`);
  }
  return port;
}

/** Splits "a,b , c" into ["a", "b", "c"]. */
export function parseList(text: string | undefined): string[] {
  return (text ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/** Actor recorded for changes made from the command line. */
export function cliActor(): string {
  return "system";
}

/** Details added to every admin.change made from the command line. */
export function cliDetails(): Record<string, unknown> {
  let user = "unknown";
  try {
    user = userInfo().username;
  } catch {
    // Containers may have no passwd entry for the uid.
  }
  return { via: "cli", user };
}

/** An opened data directory: config, registry and audit log. Close it when done. */
export interface DataContext {
  config: ServerConfig;
  /** The registry, through its asynchronous contract. */
  registry: AsyncRegistry;
  audit: FileAuditLog;
  /** Records an admin change made from the command line. */
  record(target: string, action: string, details?: Record<string, unknown>): void;
  close(): Promise<void>;
}

/** Opens the data directory for an admin command. */
export function openData(dir: string): DataContext {
  const config = loadServerConfig(dir);
  const sqlite = new SqliteRegistry(config.paths.registry, { dataKey: dataKeyLoader(config.paths.dir) });
  let audit: FileAuditLog;
  try {
    audit = openDataAuditLog(config.paths);
  } catch (err) {
    sqlite.close();
    throw err;
  }
  const registry = asyncRegistryOf(sqlite);
  return {
    config,
    registry,
    audit,
    record(target, action, details = {}) {
      const event: AuditEvent = {
        type: "admin.change",
        actor: cliActor(),
        target,
        outcome: "success",
        details: { action, ...details, ...cliDetails() },
      };
      audit.append(event);
    },
    async close() {
      try {
        await registry.close();
      } finally {
        await audit.close();
      }
    },
  };
}

/** Runs an admin action on the data directory, closing it afterwards. */
export async function withDataDir<T>(dir: string, fn: (ctx: DataContext) => T | Promise<T>): Promise<T> {
  const ctx = openData(dir);
  try {
    return await fn(ctx);
  } finally {
    await ctx.close();
  }
}

/**
 * Prints an error as "error: <message> (<code>)" without a stack trace for expected failures: typed
 * errors, and the operating system's (ENOENT, EACCES, ENOSPC ...), whose message names the file.
 * Only a bug (anything else) prints its stack.
 */
export function reportError(err: unknown): void {
  if (isOutpostError(err)) {
    process.stderr.write(`error: ${err.message} (${err.code})\n`);
  } else if (err instanceof Error && typeof (err as NodeJS.ErrnoException).syscall === "string") {
    process.stderr.write(`error: ${err.message}\n`);
  } else {
    process.stderr.write(`error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  }
}
