import { chmodSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { ErrorCode, OutpostError } from "@outpost/protocol";

/** Options of {@link writeSecretFile} and {@link writePublicFile}. */
export interface WriteFileOptions {
  /** Replace an existing file. Default false: an existing file is OUTPOST_CONFLICT and stays as it was. */
  overwrite?: boolean;
}

/**
 * Throws OUTPOST_CONFLICT naming the first of `paths` that exists, unless `overwrite`. Check every
 * file of a set first so that a refusal writes none of them.
 */
export function assertCanWrite(paths: string[], options: WriteFileOptions = {}): void {
  if (options.overwrite) return;
  const existing = paths.find((p) => existsSync(p));
  if (existing !== undefined) {
    throw new OutpostError(
      ErrorCode.Conflict,
      `${existing} already exists; refusing to overwrite it (--force replaces it)`,
    );
  }
}

/** Writes a file readable only by its owner (0600), creating parent directories (0700). */
export function writeSecretFile(path: string, data: string, options: WriteFileOptions = {}): void {
  write(path, data, 0o600, options);
  // writeFileSync keeps the mode of an existing file; make sure it is private.
  chmodSync(path, 0o600);
}

/** Writes a file that is not secret (0644), creating parent directories (0700). */
export function writePublicFile(path: string, data: string, options: WriteFileOptions = {}): void {
  write(path, data, 0o644, options);
}

function write(path: string, data: string, mode: number, options: WriteFileOptions): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  try {
    // "wx" creates the file or fails: no window in which a check passes and another writer wins.
    writeFileSync(path, data, { mode, flag: options.overwrite ? "w" : "wx" });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") assertCanWrite([path]);
    throw err;
  }
}
