import { randomBytes } from "node:crypto";
import { existsSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { ErrorCode, OutpostError } from "@outpost/protocol";
import type { AsyncSecretStore } from "../registry/async-types.js";
import type { DataKeyLoader } from "../registry/secret-values.js";
import { createDataKeyFile, DATA_KEY_FILE, loadDataKey, readKeyFile } from "./data-key.js";
import { keyId } from "./secret-box.js";

/** The new key of a rotation in progress, beside `data.key`. */
export const NEXT_KEY_FILE = "data.key.next";

/**
 * The registry's data key loader for a data directory: it finishes a rotation that committed
 * before `data.key.next` was renamed over `data.key` (the registry's key id is the new key's),
 * drops one that did not, then loads the key (made at the first start when there is none).
 */
export function dataKeyLoader(dir: string, env: NodeJS.ProcessEnv = process.env): DataKeyLoader {
  return (stored) => {
    const next = join(dir, NEXT_KEY_FILE);
    if (existsSync(next)) {
      try {
        if (stored !== undefined && keyId(readKeyFile(next)) === stored) renameSync(next, join(dir, DATA_KEY_FILE));
        else rmSync(next, { force: true });
      } catch (err) {
        // Another process finished it first.
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      }
    }
    return loadDataKey(dir, { create: true, env }).key;
  };
}

/** What {@link rotateDataKey} did. */
export interface RotationResult {
  /** Secret values re-encrypted. */
  values: number;
  previousKeyId: string;
  keyId: string;
  /** Where the new key is: the data directory's key file, or (env/credential) the file given. */
  keyFile: string;
}

/**
 * Replaces the data key and re-encrypts every secret value under it, atomically: the values move
 * to the new key in one transaction, or none do. With a key file in the data directory the new
 * key is random, written to `data.key.next` first and renamed over `data.key` after the commit
 * (a crash in between is finished by {@link dataKeyLoader}). With a key from the environment or a
 * systemd credential, the new key is read from `newKeyFile`; put it in place of the old one
 * before the next start.
 */
export async function rotateDataKey(
  secrets: Pick<AsyncSecretStore, "keyId" | "rotate">,
  dir: string,
  options: { newKeyFile?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<RotationResult> {
  const env = options.env ?? process.env;
  const current = loadDataKey(dir, { env });
  // Loading the registry's key finishes or drops an earlier rotation: before this one begins.
  const previousKeyId = await secrets.keyId();
  if (current.source !== "file") {
    if (options.newKeyFile === undefined) {
      throw new OutpostError(
        ErrorCode.InvalidConfig,
        `the data key comes from ${current.source === "env" ? "the environment" : "a systemd credential"}: give the new key with --new-key FILE`,
      );
    }
    const next = readKeyFile(options.newKeyFile);
    const values = await secrets.rotate(next);
    return { values, previousKeyId, keyId: keyId(next), keyFile: options.newKeyFile };
  }
  const nextFile = join(dir, NEXT_KEY_FILE);
  const next = options.newKeyFile === undefined ? randomBytes(32) : readKeyFile(options.newKeyFile);
  rmSync(nextFile, { force: true });
  createDataKeyFile(nextFile, next);
  let values: number;
  try {
    values = await secrets.rotate(next);
  } catch (err) {
    rmSync(nextFile, { force: true });
    throw err;
  }
  renameSync(nextFile, join(dir, DATA_KEY_FILE));
  return { values, previousKeyId, keyId: keyId(next), keyFile: join(dir, DATA_KEY_FILE) };
}
