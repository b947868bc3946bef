import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

/**
 * Bearer secrets: application keys for devices (`opk_<keyId>_<secret>`) and operator tokens
 * (`opt_<id>_<secret>`). The id is 12 random bytes and the secret 32 random bytes (256 bits), both
 * base64url without padding. The server stores only the id and SHA-256 of the secret: a 256-bit
 * random secret cannot be guessed, so a slow password hash would buy nothing.
 */

/** Prefix of an application key (device). */
export const APP_KEY_PREFIX = "opk";
/** Prefix of an operator token. */
export const OPERATOR_TOKEN_PREFIX = "opt";

/** Kind of bearer secret, told apart by its prefix. */
export type TokenPrefix = typeof APP_KEY_PREFIX | typeof OPERATOR_TOKEN_PREFIX;

const ID_BYTES = 12;
const SECRET_BYTES = 32;
/** base64url length of 12 bytes (16) and 32 bytes (43, no padding). */
const ID_CHARS = 16;
const SECRET_CHARS = 43;

const SHAPE: Record<TokenPrefix, RegExp> = {
  opk: new RegExp(`^opk_([A-Za-z0-9_-]{${ID_CHARS}})_([A-Za-z0-9_-]{${SECRET_CHARS}})$`),
  opt: new RegExp(`^opt_([A-Za-z0-9_-]{${ID_CHARS}})_([A-Za-z0-9_-]{${SECRET_CHARS}})$`),
};

/** A freshly generated bearer secret. `token` is shown once and never stored. */
export interface GeneratedToken {
  /** The whole string handed to the holder, e.g. `opk_<id>_<secret>`. */
  token: string;
  /** Public identifier; safe to log and to store. */
  id: string;
  /** SHA-256 (hex) of the secret part; what the server stores. */
  secretHash: string;
}

/** Result of parsing a presented token. Parsing never throws. */
export type ParsedToken = { ok: true; id: string; secret: string } | { ok: false; reason: "malformed" };

/** A new application key `opk_<keyId>_<secret>`. */
export function generateAppKey(): GeneratedToken {
  return generateToken(APP_KEY_PREFIX);
}

/** A new operator token `opt_<id>_<secret>`. */
export function generateOperatorToken(): GeneratedToken {
  return generateToken(OPERATOR_TOKEN_PREFIX);
}

function generateToken(prefix: TokenPrefix): GeneratedToken {
  const id = publicId();
  const secret = randomBytes(SECRET_BYTES).toString("base64url");
  return { token: `${prefix}_${id}_${secret}`, id, secretHash: hashSecret(secret) };
}

/**
 * A random public id that never starts with "-" or "_": ids are typed as command-line arguments
 * (`outpost-server key revoke <keyId>`), where a leading "-" reads as an option. Rejection
 * sampling keeps the remaining characters uniform.
 */
function publicId(): string {
  for (;;) {
    const id = randomBytes(ID_BYTES).toString("base64url");
    if (id[0] !== "-" && id[0] !== "_") return id;
  }
}

/**
 * Splits an application key into id and secret. Because base64url itself contains "_", the parts
 * are found by their fixed lengths, not by splitting. Any non-string or malformed input gives
 * `{ ok: false, reason: "malformed" }`.
 */
export function parseAppKey(presented: unknown): ParsedToken {
  return parseToken(APP_KEY_PREFIX, presented);
}

/** Splits an operator token into id and secret; same rules as {@link parseAppKey}. */
export function parseOperatorToken(presented: unknown): ParsedToken {
  return parseToken(OPERATOR_TOKEN_PREFIX, presented);
}

function parseToken(prefix: TokenPrefix, presented: unknown): ParsedToken {
  if (typeof presented !== "string" || presented.length !== prefix.length + 2 + ID_CHARS + SECRET_CHARS) {
    return { ok: false, reason: "malformed" };
  }
  const m = SHAPE[prefix].exec(presented);
  if (!m) return { ok: false, reason: "malformed" };
  return { ok: true, id: m[1]!, secret: m[2]! };
}

/** SHA-256 (lower-case hex) of a secret's UTF-8 text. */
export function hashSecret(secret: string): string {
  return createHash("sha256").update(secret, "utf8").digest("hex");
}

// Compared against when the id is unknown, so an unknown id costs the same work as a wrong secret.
const DUMMY_HASH = hashSecret("outpost-dummy-secret");

/**
 * Whether `secret` hashes to `storedHash`, compared in constant time. A stored hash that is not
 * 64 hex digits never matches. Pass `undefined` as `storedHash` for an unknown id: the same work is
 * done and the answer is false.
 */
export function verifySecret(secret: string, storedHash: string | undefined): boolean {
  const expected = Buffer.from(storedHash ?? DUMMY_HASH, "hex");
  const actual = createHash("sha256").update(secret, "utf8").digest();
  if (expected.length !== actual.length) {
    timingSafeEqual(actual, actual);
    return false;
  }
  return timingSafeEqual(expected, actual) && storedHash !== undefined;
}
