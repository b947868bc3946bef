import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ErrorCode, OutpostError } from "@outpost/protocol";

/** File name of the server's data key, in the data directory and in `$CREDENTIALS_DIRECTORY`. */
export const DATA_KEY_FILE = "data.key";

/** Environment variable that can hold the data key (base64 or hex of 32 bytes). */
export const DATA_KEY_ENV = "OUTPOST_SERVER_DATA_KEY";

/** Where the data key came from (never the key itself). */
export type DataKeySource = "env" | "credentials" | "file";

/** The 32-byte key that encrypts the secret property values of the registry. */
export interface DataKey {
  key: Buffer;
  source: DataKeySource;
  /** The file it was read from (source "file" or "credentials"). */
  file?: string;
}

/**
 * Finds the data key, first match wins: {@link DATA_KEY_ENV}, then `$CREDENTIALS_DIRECTORY/data.key`
 * (a systemd credential), then `DIR/data.key` (mode 0600). With `create`, a missing key file is
 * made (32 random bytes, mode 0600) — `init` and the first start do so. Missing (without
 * `create`), malformed, or readable by others: OUTPOST_INVALID_CONFIG.
 */
export function loadDataKey(dir: string, options: { create?: boolean; env?: NodeJS.ProcessEnv } = {}): DataKey {
  const env = options.env ?? process.env;
  const fromEnv = env[DATA_KEY_ENV];
  if (fromEnv !== undefined && fromEnv !== "") return { key: parseKey(fromEnv, DATA_KEY_ENV), source: "env" };
  const creds = env.CREDENTIALS_DIRECTORY;
  if (creds && existsSync(join(creds, DATA_KEY_FILE))) {
    const file = join(creds, DATA_KEY_FILE);
    return { key: readKeyFile(file), source: "credentials", file };
  }
  const file = join(dir, DATA_KEY_FILE);
  if (!existsSync(file)) {
    if (options.create) return { key: createDataKeyFile(file), source: "file", file };
    throw new OutpostError(
      ErrorCode.InvalidConfig,
      `no data key: ${file} does not exist and neither ${DATA_KEY_ENV} nor a systemd credential data.key is set`,
    );
  }
  const mode = statSync(file).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new OutpostError(
      ErrorCode.InvalidConfig,
      `${file} is readable by other users (mode ${mode.toString(8)}): run chmod 600 ${file}`,
    );
  }
  return { key: readKeyFile(file), source: "file", file };
}

/** Writes a new random key to `file` (mode 0600) and returns it. Another process that made it first wins. */
export function createDataKeyFile(file: string, key: Buffer = randomBytes(32)): Buffer {
  try {
    writeFileSync(file, `${key.toString("base64")}\n`, { mode: 0o600, flag: "wx" });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return readKeyFile(file);
    throw err;
  }
  chmodSync(file, 0o600);
  return key;
}

/** Reads a key file: 32 raw bytes (a credential) or base64/hex text. */
export function readKeyFile(file: string): Buffer {
  const raw = readFileSync(file);
  if (raw.length === 32) return raw;
  return parseKey(raw.toString("utf8"), file);
}

/** Parses 32 bytes given as base64 or hex. */
export function parseKey(text: string, where: string): Buffer {
  const t = text.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(t) ? Buffer.from(t, "hex") : Buffer.from(t, "base64");
  if (key.length !== 32) {
    throw new OutpostError(ErrorCode.InvalidConfig, `${where} is not a data key (32 bytes as base64 or hex)`);
  }
  return key;
}
