import { randomBytes, scrypt, timingSafeEqual } from "node:crypto";
import { ErrorCode, OutpostError } from "@outpost/protocol";

/**
 * Operator passwords, hashed with scrypt (node:crypto). A stored hash is the text
 * `scrypt$<log2 N>$<r>$<p>$<salt>$<hash>` (salt 16 random bytes, hash 32 bytes, both base64url), so
 * the parameters can be raised later while older hashes still verify. The defaults, N = 2^15, r = 8,
 * p = 1, use 32 MiB of memory and take tens of milliseconds per hash: cheap for one login, costly
 * for an offline guesser. Plaintext passwords are never stored, logged or compared directly.
 */

/** Cost parameters of a new hash. */
export interface ScryptParams {
  /** log2 of the CPU/memory cost N. Default 15 (N = 32768). */
  log2N: number;
  /** Block size. Default 8. */
  r: number;
  /** Parallelism. Default 1. */
  p: number;
}

/** The parameters new hashes use. */
export const DEFAULT_SCRYPT: Readonly<ScryptParams> = { log2N: 15, r: 8, p: 1 };

/** Shortest password accepted when one is set. */
export const MIN_PASSWORD_CHARS = 12;
/** Longest password accepted (scrypt reads all of it; an unbounded one would be a cheap denial of service). */
export const MAX_PASSWORD_BYTES = 1024;

const SALT_BYTES = 16;
const HASH_BYTES = 32;
const SHAPE = /^scrypt\$(\d{1,2})\$(\d{1,3})\$(\d{1,3})\$([A-Za-z0-9_-]{22})\$([A-Za-z0-9_-]{43})$/;

/** Refuses a password that is too short or too long for a new hash (OUTPOST_BAD_REQUEST). */
export function assertNewPassword(password: string): void {
  if ([...password].length < MIN_PASSWORD_CHARS) {
    throw new OutpostError(ErrorCode.BadRequest, `a password must have at least ${MIN_PASSWORD_CHARS} characters`);
  }
  if (Buffer.byteLength(password, "utf8") > MAX_PASSWORD_BYTES) {
    throw new OutpostError(ErrorCode.BadRequest, `a password must have at most ${MAX_PASSWORD_BYTES} bytes`);
  }
}

/** Hashes a new password (after {@link assertNewPassword}) into the stored text form. */
export async function hashPassword(password: string, params: ScryptParams = DEFAULT_SCRYPT): Promise<string> {
  assertNewPassword(password);
  const salt = randomBytes(SALT_BYTES);
  const hash = await derive(password, salt, params);
  return `scrypt$${params.log2N}$${params.r}$${params.p}$${salt.toString("base64url")}$${hash.toString("base64url")}`;
}

/**
 * Whether `password` matches `stored`, comparing the derived hashes in constant time. A stored text
 * that is not a hash of this form never matches. Resolves false rather than rejecting for any
 * password input, so a caller cannot tell a malformed password from a wrong one.
 */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const m = SHAPE.exec(stored);
  if (!m || typeof password !== "string" || Buffer.byteLength(password, "utf8") > MAX_PASSWORD_BYTES) {
    // Same work as a real comparison, so the answer's timing tells nothing either.
    await derive("", DUMMY_SALT, DEFAULT_SCRYPT);
    return false;
  }
  const params = { log2N: Number(m[1]), r: Number(m[2]), p: Number(m[3]) };
  if (params.log2N < 10 || params.log2N > 20 || params.r < 1 || params.p < 1 || params.p > 16) return false;
  const expected = Buffer.from(m[5]!, "base64url");
  const actual = await derive(password, Buffer.from(m[4]!, "base64url"), params);
  return timingSafeEqual(actual, expected);
}

/**
 * Spends the work of one verification without a stored hash: for a login with an unknown user, so
 * it is answered after the same time as one with a wrong password.
 */
export async function verifyNothing(password: string): Promise<false> {
  await verifyPassword(typeof password === "string" ? password : "", DUMMY_HASH);
  return false;
}

const DUMMY_SALT = Buffer.alloc(SALT_BYTES, 1);
const DUMMY_HASH = `scrypt$${DEFAULT_SCRYPT.log2N}$${DEFAULT_SCRYPT.r}$${DEFAULT_SCRYPT.p}$${DUMMY_SALT.toString("base64url")}$${Buffer.alloc(HASH_BYTES).toString("base64url")}`;

function derive(password: string, salt: Buffer, params: ScryptParams): Promise<Buffer> {
  const N = 2 ** params.log2N;
  const maxmem = 256 * N * params.r * params.p + 1024 * 1024;
  return new Promise((resolve, reject) => {
    scrypt(password.normalize("NFC"), salt, HASH_BYTES, { N, r: params.r, p: params.p, maxmem }, (err, key) =>
      err ? reject(err) : resolve(key),
    );
  });
}
