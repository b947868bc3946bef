// The per-byte work an Outpost transfer must do at each end whatever its code: MD5 and SHA-256 of
// the whole file, and AES-256-GCM of every chunk (counter nonce, 16-byte tag at the end). Used by
// the file benchmark's "required work" ceiling, without records, window or stream layer.
import { createCipheriv, createDecipheriv, createHash } from "node:crypto";

/** A fixed key for the ceiling: the key exchange costs microseconds per transfer, not per byte. */
export const WORK_KEY = Buffer.alloc(32, 7);

function nonce(i) {
  const n = Buffer.alloc(12);
  n.writeUInt32BE(i, 8);
  return n;
}

/** Hashes and seals chunk after chunk: `seal(plain)` returns `[ciphertext, tag]`. */
export function sender() {
  const md5 = createHash("md5");
  const sha = createHash("sha256");
  let i = 0;
  return {
    seal(plain) {
      md5.update(plain);
      sha.update(plain);
      const c = createCipheriv("aes-256-gcm", WORK_KEY, nonce(i++));
      return [c.update(plain), Buffer.concat([c.final(), c.getAuthTag()])];
    },
    digests: () => [md5.digest("hex"), sha.digest("hex")],
  };
}

/** Opens and hashes chunk after chunk: `open(message)` returns the plaintext or throws. */
export function receiver() {
  const md5 = createHash("md5");
  const sha = createHash("sha256");
  let i = 0;
  return {
    open(message) {
      const d = createDecipheriv("aes-256-gcm", WORK_KEY, nonce(i++));
      d.setAuthTag(message.subarray(message.length - 16));
      const plain = Buffer.concat([d.update(message.subarray(0, message.length - 16)), d.final()]);
      md5.update(plain);
      sha.update(plain);
      return plain;
    },
    digests: () => [md5.digest("hex"), sha.digest("hex")],
  };
}
