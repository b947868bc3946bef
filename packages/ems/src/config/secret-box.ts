import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { ErrorCode, OutpostError } from "@outpost/protocol";

/** Prefix of an encrypted value in the configuration file; the digit is the format version. */
export const SECRET_PREFIX = "outpost-enc:v1:";

const IV_BYTES = 12;
const TAG_BYTES = 16;

/** Whether a stored value is an encrypted secret (of any version this build knows). */
export function isEncrypted(value: unknown): value is string {
  return typeof value === "string" && value.startsWith(SECRET_PREFIX);
}

/**
 * Encrypts `plaintext` with AES-256-GCM under `key` (32 bytes). The field name is the associated
 * data, so a ciphertext moved to another field does not decrypt. Format:
 * `outpost-enc:v1:` + base64url(iv(12) | tag(16) | ciphertext).
 */
export function sealSecret(key: Buffer, field: string, plaintext: string): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  cipher.setAAD(aad(field));
  const ct = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
  return SECRET_PREFIX + Buffer.concat([iv, cipher.getAuthTag(), ct]).toString("base64url");
}

/** Decrypts a value made by {@link sealSecret}; a wrong key or a changed value is OUTPOST_INVALID_CONFIG naming `field`. */
export function openSecret(key: Buffer, field: string, sealed: string): string {
  if (!isEncrypted(sealed)) {
    throw new OutpostError(ErrorCode.InvalidConfig, `config field ${field} is not in the encrypted format`);
  }
  const raw = Buffer.from(sealed.slice(SECRET_PREFIX.length), "base64url");
  if (raw.length < IV_BYTES + TAG_BYTES) {
    throw new OutpostError(ErrorCode.InvalidConfig, `config field ${field}: encrypted value is truncated`);
  }
  try {
    const decipher = createDecipheriv("aes-256-gcm", key, raw.subarray(0, IV_BYTES));
    decipher.setAAD(aad(field));
    decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString("utf8");
  } catch (cause) {
    throw new OutpostError(
      ErrorCode.InvalidConfig,
      `config field ${field} cannot be decrypted: the data key is wrong or the value was changed`,
      { cause },
    );
  }
}

function aad(field: string): Buffer {
  return Buffer.from(`outpost-ems/v1/${field}`, "utf8");
}
