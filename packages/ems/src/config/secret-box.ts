import { ErrorCode, isSealedText, OutpostError, openText, SEALED_TEXT_PREFIX, sealText } from "@outpost/protocol";

/** Prefix of an encrypted value in the configuration file; the digit is the format version. */
export const SECRET_PREFIX = SEALED_TEXT_PREFIX;

/** Whether a stored value is an encrypted secret (of any version this build knows). */
export function isEncrypted(value: unknown): value is string {
  return isSealedText(value);
}

/**
 * Encrypts `plaintext` with AES-256-GCM under `key` (32 bytes). The field name is the associated
 * data, so a ciphertext moved to another field does not decrypt (format: {@link sealText}).
 */
export function sealSecret(key: Buffer, field: string, plaintext: string): string {
  return sealText(key, aad(field), plaintext);
}

/** Decrypts a value made by {@link sealSecret}; a wrong key or a changed value is OUTPOST_INVALID_CONFIG naming `field`. */
export function openSecret(key: Buffer, field: string, sealed: string): string {
  try {
    return openText(key, aad(field), sealed);
  } catch (cause) {
    const problem = (cause as { problem?: string }).problem;
    const message =
      problem === "format"
        ? `config field ${field} is not in the encrypted format`
        : problem === "truncated"
          ? `config field ${field}: encrypted value is truncated`
          : `config field ${field} cannot be decrypted: the data key is wrong or the value was changed`;
    throw new OutpostError(ErrorCode.InvalidConfig, message, problem === "integrity" ? { cause } : {});
  }
}

function aad(field: string): string {
  return `outpost-ems/v1/${field}`;
}
