import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ErrorCode, OutpostError } from "@outpost/protocol";

/** File name of the data key, in the EMS directory and in `$CREDENTIALS_DIRECTORY`. */
export const DATA_KEY_FILE = "data.key";

/** Where the data key came from (for status and error messages; never the key itself). */
export type DataKeySource = "env" | "credentials" | "file";

/** The 32-byte key that encrypts every secret of the configuration. */
export interface DataKey {
  key: Buffer;
  source: DataKeySource;
}

/**
 * Finds the data key, first match wins: `OUTPOST_EMS_DATA_KEY` (base64 or hex of 32 bytes), then
 * `$CREDENTIALS_DIRECTORY/data.key` (a systemd credential, e.g. `LoadCredentialEncrypted=`), then
 * `DIR/data.key` (mode 0600, made by `init`). Missing or malformed: OUTPOST_INVALID_CONFIG.
 */
export function loadDataKey(dir: string, env: NodeJS.ProcessEnv = process.env): DataKey {
  const fromEnv = env.OUTPOST_EMS_DATA_KEY;
  if (fromEnv !== undefined && fromEnv !== "") return { key: parseKey(fromEnv, "OUTPOST_EMS_DATA_KEY"), source: "env" };
  const creds = env.CREDENTIALS_DIRECTORY;
  if (creds && existsSync(join(creds, DATA_KEY_FILE))) {
    return { key: readKeyFile(join(creds, DATA_KEY_FILE)), source: "credentials" };
  }
  const file = join(dir, DATA_KEY_FILE);
  if (!existsSync(file)) {
    throw new OutpostError(
      ErrorCode.InvalidConfig,
      `no data key: ${file} does not exist and neither OUTPOST_EMS_DATA_KEY nor a systemd credential data.key is set`,
    );
  }
  const mode = statSync(file).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new OutpostError(
      ErrorCode.InvalidConfig,
      `${file} is readable by other users (mode ${mode.toString(8)}): run chmod 600 ${file}`,
    );
  }
  return { key: readKeyFile(file), source: "file" };
}

/** Makes a new random data key file (mode 0600). Refuses to overwrite one. */
export function createDataKeyFile(dir: string): Buffer {
  const file = join(dir, DATA_KEY_FILE);
  if (existsSync(file)) throw new OutpostError(ErrorCode.Conflict, `${file} already exists`);
  const key = randomBytes(32);
  writeFileSync(file, `${key.toString("base64")}\n`, { mode: 0o600, flag: "wx" });
  chmodSync(file, 0o600);
  return key;
}

function readKeyFile(file: string): Buffer {
  const raw = readFileSync(file);
  // A credential may hold the 32 raw bytes; a key file holds base64 text.
  if (raw.length === 32) return raw;
  return parseKey(raw.toString("utf8"), file);
}

function parseKey(text: string, where: string): Buffer {
  const t = text.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(t) ? Buffer.from(t, "hex") : Buffer.from(t, "base64");
  if (key.length !== 32) {
    throw new OutpostError(ErrorCode.InvalidConfig, `${where} is not a data key (32 bytes as base64 or hex)`);
  }
  return key;
}
