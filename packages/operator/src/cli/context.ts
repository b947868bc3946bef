import { readFileSync } from "node:fs";
import { ErrorCode, OutpostError } from "@outpost/protocol";
import { OperatorClient } from "../client.js";
import { readProfile } from "./profiles.js";

/** Options every command accepts (see `outpost --help`). */
export interface GlobalOptions {
  profile?: string;
  server?: string;
  ca?: string;
  json?: boolean;
  debug?: boolean;
  timeout?: string;
}

/** A local mistake (bad argument, missing login): exit status 2. */
export function usageError(message: string, cause?: unknown): OutpostError {
  return new OutpostError(ErrorCode.InvalidConfig, message, cause === undefined ? {} : { cause });
}

export function readCa(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    throw usageError(`cannot read the CA file ${path}: ${(err as Error).message}`, err);
  }
}

/** Milliseconds from --timeout (default 30 000). */
export function timeoutOf(o: GlobalOptions): number {
  if (o.timeout === undefined) return 30_000;
  const n = Number(o.timeout);
  if (!Number.isSafeInteger(n) || n <= 0) throw usageError("--timeout must be a positive number of milliseconds");
  return n;
}

/**
 * The client for a command: --server/--ca, then OUTPOST_SERVER / OUTPOST_CA / OUTPOST_TOKEN, then
 * the profile (--profile, or the one last logged in to).
 */
export function clientFor(o: GlobalOptions, env: NodeJS.ProcessEnv = process.env): OperatorClient {
  const saved = readProfile(o.profile)?.profile;
  if (o.profile && !saved && !env.OUTPOST_TOKEN) throw usageError(`no profile ${o.profile}: run outpost login first`);
  const server = o.server ?? env.OUTPOST_SERVER ?? saved?.server;
  const token = env.OUTPOST_TOKEN ?? saved?.token;
  if (!server) throw usageError("no server: run outpost login, or set OUTPOST_SERVER");
  if (!token) throw usageError("no token: run outpost login, or set OUTPOST_TOKEN");
  const caFile = o.ca ?? env.OUTPOST_CA;
  const ca = caFile !== undefined ? readCa(caFile) : saved?.ca;
  return new OperatorClient({ url: server, token, timeoutMs: timeoutOf(o), ...(ca !== undefined ? { ca } : {}) });
}

/**
 * The device CA for tunnels: --device-ca, then OUTPOST_DEVICE_CA (a file), then the profile's
 * (saved by `outpost login --device-ca`). Never fetched from the server: it is what the device's
 * signature is checked against.
 */
export function deviceCaFor(o: GlobalOptions & { deviceCa?: string }, env: NodeJS.ProcessEnv = process.env): string {
  const file = o.deviceCa ?? env.OUTPOST_DEVICE_CA;
  if (file !== undefined) return readCa(file);
  const saved = readProfile(o.profile)?.profile.deviceCa;
  if (saved) return saved;
  throw usageError(
    "tunnels need the device CA: pass --device-ca FILE, set OUTPOST_DEVICE_CA, or run outpost login --device-ca FILE",
  );
}
