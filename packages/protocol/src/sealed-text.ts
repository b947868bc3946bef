import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";

/** Prefix of a sealed text value; the digit is the format version. */
export const SEALED_TEXT_PREFIX = "outpost-enc:v1:";

const IV_BYTES = 12;
const TAG_BYTES = 16;

/** Why {@link openText} could not open a value. */
export type SealedTextProblem = "format" | "truncated" | "integrity";

/** Thrown by {@link openText}; callers turn it into their own typed error naming the field. */
export class SealedTextError extends Error {
  constructor(
    readonly problem: SealedTextProblem,
    options?: { cause?: unknown },
  ) {
    super(`sealed text: ${problem}`, options);
  }
}

/** Whether `value` is a sealed text (of any version this build knows). */
export function isSealedText(value: unknown): value is string {
  return typeof value === "string" && value.startsWith(SEALED_TEXT_PREFIX);
}

/**
 * Secrets kept as text (the EMS configuration, the server's secret properties): AES-256-GCM under
 * `key` (32 bytes) with `aad` bound as associated data, so a value moved to another field does not
 * open. Format: `outpost-enc:v1:` + base64url(iv(12) | tag(16) | ciphertext).
 */
export function sealText(key: Buffer, aad: string, plaintext: string): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  cipher.setAAD(Buffer.from(aad, "utf8"));
  const ct = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
  return SEALED_TEXT_PREFIX + Buffer.concat([iv, cipher.getAuthTag(), ct]).toString("base64url");
}

/** Opens a value made by {@link sealText} with the same `aad`; else throws a {@link SealedTextError}. */
export function openText(key: Buffer, aad: string, sealed: string): string {
  if (!isSealedText(sealed)) throw new SealedTextError("format");
  const raw = Buffer.from(sealed.slice(SEALED_TEXT_PREFIX.length), "base64url");
  if (raw.length < IV_BYTES + TAG_BYTES) throw new SealedTextError("truncated");
  try {
    const decipher = createDecipheriv("aes-256-gcm", key, raw.subarray(0, IV_BYTES));
    decipher.setAAD(Buffer.from(aad, "utf8"));
    decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString("utf8");
  } catch (cause) {
    throw new SealedTextError("integrity", { cause });
  }
}
