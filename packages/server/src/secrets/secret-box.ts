import { createHmac } from "node:crypto";
import { ErrorCode, isSealedText, OutpostError, openText, SEALED_TEXT_PREFIX, sealText } from "@outpost/protocol";

/**
 * Prefix of an encrypted value; the digit is the format version. The layout is the protocol
 * package's sealed text (`sealText`), shared with the EMS configuration, with a server-side
 * associated data.
 */
export const SECRET_PREFIX = SEALED_TEXT_PREFIX;

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
  return isSealedText(stored);
}

/**
 * Encrypts `plaintext` with AES-256-GCM under `key` (32 bytes). `field` is bound as associated
 * data, so a ciphertext copied to another field does not decrypt.
 */
export function seal(key: Buffer, field: string, plaintext: string): string {
  return sealText(key, aad(field), plaintext);
}

/** Decrypts a value made by {@link seal}; anything else is a {@link SecretValueError} naming `field`. */
export function open(key: Buffer, field: string, sealed: string): string {
  try {
    return openText(key, aad(field), sealed);
  } catch (cause) {
    const problem = (cause as { problem?: string }).problem;
    if (problem === "format") throw new SecretValueError(field, `secret value ${field} is not in the encrypted format`);
    if (problem === "truncated") throw new SecretValueError(field, `secret value ${field} is truncated`);
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

function aad(field: string): string {
  return `outpost-server/v1/${field}`;
}
