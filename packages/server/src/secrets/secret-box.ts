import { createCipheriv, createDecipheriv, createHmac, randomBytes } from "node:crypto";
import { ErrorCode, OutpostError } from "@outpost/protocol";

/**
 * Prefix of an encrypted value; the digit is the format version. The layout is the EMS
 * configuration's (packages/ems/src/config/secret-box.ts): `outpost-enc:v1:` +
 * base64url(iv(12) | tag(16) | AES-256-GCM ciphertext), with a server-side associated data.
 */
export const SECRET_PREFIX = "outpost-enc:v1:";

const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * A secret value that cannot be decrypted: its ciphertext was changed, moved to another property,
 * or the data key is not the one it was encrypted with. Code OUTPOST_INTEGRITY; `field` names
 * the value (`thing/property`, `desired:thing/property`).
 */
export class SecretValueError extends OutpostError {
  readonly field: string;
  constructor(field: string, message: string, cause?: unknown) {
    super(ErrorCode.Integrity, message, { status: 500, ...(cause !== undefined ? { cause } : {}) });
    this.field = field;
  }
}

/** Whether a stored text is an encrypted value. */
export function isSealed(stored: string): boolean {
  return stored.startsWith(SECRET_PREFIX);
}

/**
 * Encrypts `plaintext` with AES-256-GCM under `key` (32 bytes). `field` is bound as associated
 * data, so a ciphertext copied to another field does not decrypt.
 */
export function seal(key: Buffer, field: string, plaintext: string): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  cipher.setAAD(aad(field));
  const ct = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
  return SECRET_PREFIX + Buffer.concat([iv, cipher.getAuthTag(), ct]).toString("base64url");
}

/** Decrypts a value made by {@link seal}; anything else is a {@link SecretValueError} naming `field`. */
export function open(key: Buffer, field: string, sealed: string): string {
  if (!isSealed(sealed)) throw new SecretValueError(field, `secret value ${field} is not in the encrypted format`);
  const raw = Buffer.from(sealed.slice(SECRET_PREFIX.length), "base64url");
  if (raw.length < IV_BYTES + TAG_BYTES) {
    throw new SecretValueError(field, `secret value ${field} is truncated`);
  }
  try {
    const decipher = createDecipheriv("aes-256-gcm", key, raw.subarray(0, IV_BYTES));
    decipher.setAAD(aad(field));
    decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString("utf8");
  } catch (cause) {
    throw new SecretValueError(
      field,
      `secret value ${field} cannot be decrypted: it was changed, or the data key is not the one it was encrypted with`,
      cause,
    );
  }
}

/** A short public identifier of a data key (never the key): 16 hex digits of an HMAC of a fixed text. */
export function keyId(key: Buffer): string {
  return createHmac("sha256", key).update("outpost-server data key id").digest("hex").slice(0, 16);
}

function aad(field: string): Buffer {
  return Buffer.from(`outpost-server/v1/${field}`, "utf8");
}
