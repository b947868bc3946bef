import {
  createCipheriv,
  createDecipheriv,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  type KeyObject,
} from "node:crypto";
import { ErrorCode, OutpostError } from "./errors.js";

/**
 * End-to-end session keys for file transfers and tunnels (docs/security.md, "End-to-end keys").
 *
 * Each side makes an ephemeral X25519 {@link KeyShare}, sends only its 32-byte public key, and
 * derives the same two directional AES-256-GCM keys with {@link deriveSessionKeys}: HKDF-SHA256 over
 * the shared secret, with the purpose label, the session id and both public keys in the info, so
 * no key material crosses the wire and a key belongs to exactly one session. Records are sealed
 * with {@link seal}: the nonce is the record's counter (chunk index or sequence number), and the
 * caller's associated data binds whatever else the record must not be moved away from.
 */

/** Length of an X25519 public key in raw form. */
export const KEY_SHARE_BYTES = 32;
/** Length of the AES-GCM tag appended to every sealed record. */
export const SEAL_TAG_BYTES = 16;
/** Largest record counter: nonces are 96 bits, of which 64 carry the counter (kept exact in JS). */
export const MAX_SEAL_COUNTER = Number.MAX_SAFE_INTEGER;

const X25519_SPKI_PREFIX = Buffer.from("302a300506032b656e032100", "hex");

/** One side's ephemeral X25519 key pair for one session. Never reuse it for a second session. */
export interface KeyShare {
  /** The raw 32-byte public key: the only part that is sent. */
  readonly publicKey: Uint8Array;
  readonly privateKey: KeyObject;
}

/** The two keys of a session, one per direction, as seen by one side. */
export interface SessionKeys {
  /** Seals what this side sends. */
  readonly send: Uint8Array;
  /** Opens what this side receives. */
  readonly receive: Uint8Array;
}

/** What {@link deriveSessionKeys} binds the keys to. */
export interface SessionKeyInput {
  /** Purpose and version, e.g. `"outpost-file-v1"`; keys for different purposes never coincide. */
  label: string;
  /** The transfer or tunnel session id, unique per session. */
  sessionId: string;
  /** This side's key share. */
  own: KeyShare;
  /** Which end this side is: the initiator sent its share first. */
  role: "initiator" | "responder";
  /** The initiator's raw public key. */
  initiatorPublic: Uint8Array;
  /** The responder's raw public key. */
  responderPublic: Uint8Array;
}

/** A new ephemeral X25519 key share. */
export function createKeyShare(): KeyShare {
  const { publicKey, privateKey } = generateKeyPairSync("x25519");
  const der = publicKey.export({ format: "der", type: "spki" });
  return { publicKey: new Uint8Array(der.subarray(der.length - KEY_SHARE_BYTES)), privateKey };
}

/**
 * Both directional keys of a session. Throws `OUTPOST_INTEGRITY` for a peer key that is not 32
 * bytes or is a low-order point (an all-zero shared secret), and `OUTPOST_BAD_REQUEST` when `own`
 * is not the share named by `role`.
 */
export function deriveSessionKeys(input: SessionKeyInput): SessionKeys {
  const { own, role, initiatorPublic, responderPublic } = input;
  const ownPublic = role === "initiator" ? initiatorPublic : responderPublic;
  const peerPublic = role === "initiator" ? responderPublic : initiatorPublic;
  if (!equalBytes(ownPublic, own.publicKey))
    throw new OutpostError(ErrorCode.BadRequest, `own key share is not the ${role}'s public key`);
  if (peerPublic.length !== KEY_SHARE_BYTES)
    throw new OutpostError(ErrorCode.Integrity, `peer key share is ${peerPublic.length} bytes, not ${KEY_SHARE_BYTES}`);
  const peerKey = createPublicKey({
    key: Buffer.concat([X25519_SPKI_PREFIX, peerPublic]),
    format: "der",
    type: "spki",
  });
  let shared: Buffer;
  try {
    shared = diffieHellman({ privateKey: own.privateKey, publicKey: peerKey });
  } catch (cause) {
    throw new OutpostError(ErrorCode.Integrity, "peer key share is not a usable X25519 key", { cause });
  }
  if (shared.every((b) => b === 0)) throw new OutpostError(ErrorCode.Integrity, "peer key share is a low-order point");
  const info = Buffer.concat([
    lengthPrefixed(Buffer.from(input.label, "utf8")),
    lengthPrefixed(Buffer.from(input.sessionId, "utf8")),
    initiatorPublic,
    responderPublic,
  ]);
  const okm = Buffer.from(hkdfSync("sha256", shared, Buffer.alloc(0), info, 64));
  const toResponder = new Uint8Array(okm.subarray(0, 32));
  const toInitiator = new Uint8Array(okm.subarray(32, 64));
  return role === "initiator"
    ? { send: toResponder, receive: toInitiator }
    : { send: toInitiator, receive: toResponder };
}

/**
 * AES-256-GCM of one record: returns ciphertext followed by the 16-byte tag. `counter` MUST be
 * unique per key for different plaintexts (a chunk index, a record sequence number).
 */
export function seal(key: Uint8Array, counter: number, aad: Uint8Array, plaintext: Uint8Array): Buffer {
  return Buffer.concat(sealParts(key, counter, aad, plaintext));
}

/**
 * {@link seal} without joining its output: the ciphertext (one or two pieces) and then the tag, to be
 * written one after the other, so bulk senders copy the ciphertext only into the frame it leaves in.
 */
export function sealParts(key: Uint8Array, counter: number, aad: Uint8Array, plaintext: Uint8Array): Buffer[] {
  const cipher = createCipheriv("aes-256-gcm", key, nonceFor(counter));
  cipher.setAAD(aad);
  const head = cipher.update(plaintext);
  const tail = cipher.final();
  return tail.byteLength === 0 ? [head, cipher.getAuthTag()] : [head, tail, cipher.getAuthTag()];
}

/**
 * Opens a record made by {@link seal} with the same key, counter and associated data. Any other
 * input (a flipped bit, another counter, other associated data, a cut record) throws
 * `OUTPOST_INTEGRITY`; no unverified byte is returned.
 */
export function open(key: Uint8Array, counter: number, aad: Uint8Array, sealed: Uint8Array): Buffer {
  if (sealed.length < SEAL_TAG_BYTES)
    throw new OutpostError(ErrorCode.Integrity, `sealed record of ${sealed.length} bytes is shorter than its tag`);
  const body = sealed.subarray(0, sealed.length - SEAL_TAG_BYTES);
  const decipher = createDecipheriv("aes-256-gcm", key, nonceFor(counter));
  decipher.setAAD(aad);
  decipher.setAuthTag(sealed.subarray(sealed.length - SEAL_TAG_BYTES));
  const head = decipher.update(body);
  try {
    const tail = decipher.final();
    return tail.byteLength === 0 ? head : Buffer.concat([head, tail]);
  } catch (cause) {
    throw new OutpostError(ErrorCode.Integrity, `record ${counter} failed authentication`, { cause });
  }
}

function nonceFor(counter: number): Buffer {
  if (!Number.isSafeInteger(counter) || counter < 0)
    throw new OutpostError(ErrorCode.BadRequest, `seal counter ${counter} is not an integer in [0, 2^53)`);
  const nonce = Buffer.alloc(12);
  nonce.writeBigUInt64BE(BigInt(counter), 4);
  return nonce;
}

function lengthPrefixed(bytes: Buffer): Buffer {
  const head = Buffer.alloc(2);
  head.writeUInt16BE(bytes.length);
  return Buffer.concat([head, bytes]);
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
