import { createHash } from "node:crypto";
import { open as openSealed, sealParts } from "./sealed.js";

/**
 * Where a file transfer seals, opens and hashes its chunks (docs/files.md, "Where the work runs").
 * The transfer keeps the order: it writes results in the order it asked for them, whatever order
 * they complete in, and keeps at most {@link CRYPTO_IN_FLIGHT_CHUNKS} chunks in flight.
 */
export interface ChunkCrypto {
  /** A session of one transfer attempt: one key, one running MD5 and SHA-256 of the plaintext. */
  session(key: Uint8Array): ChunkCryptoSession;
}

/**
 * One attempt's chunk work. The running hashes take the plaintext of `hash`, `seal` and `open` in
 * call order (not completion order). A `data` or `sealed` argument is handed over: the caller must
 * not use it after the call, and a buffer the view spans whole (or any view's whole buffer, when
 * `ownsBuffer` says the caller holds nothing else in it) may be transferred. Rejections: `OUTPOST_INTEGRITY` for a chunk that fails
 * authentication; {@link FileTransferError} `OUTPOST_INTERNAL` (not retryable) when the worker
 * doing the work stopped.
 */
export interface ChunkCryptoSession {
  /** Adds a chunk of already verified plaintext (the prefix a resume keeps) to the hashes. */
  hash(data: Uint8Array): Promise<void>;
  /** Hashes `data` and seals it as record `index`: ciphertext pieces, then the 16-byte tag. */
  seal(index: number, aad: Uint8Array, data: Uint8Array): Promise<Uint8Array[]>;
  /** Opens record `index` (ciphertext and tag) and hashes its plaintext. */
  open(index: number, aad: Uint8Array, sealed: Uint8Array, ownsBuffer?: boolean): Promise<Uint8Array>;
  /** The whole-file MD5 (16 bytes) and SHA-256 (32 bytes) of everything hashed so far. */
  digest(): Promise<{ md5: Buffer; sha256: Buffer }>;
  /** Frees the session; calls after it reject. */
  close(): void;
}

/** Largest number of chunks a transfer has handed to its {@link ChunkCryptoSession} and not yet taken back. */
export const CRYPTO_IN_FLIGHT_CHUNKS = 4;

/** Does the work on the calling thread, at the time of the call. */
export const inlineChunkCrypto: ChunkCrypto = {
  session(key) {
    const md5 = createHash("md5");
    const sha = createHash("sha256");
    return {
      async hash(data) {
        md5.update(data);
        sha.update(data);
      },
      seal(index, aad, data) {
        try {
          md5.update(data);
          sha.update(data);
          return Promise.resolve(sealParts(key, index, aad, data));
        } catch (err) {
          return Promise.reject(err as Error);
        }
      },
      open(index, aad, sealed) {
        try {
          const plain = openSealed(key, index, aad, sealed);
          md5.update(plain);
          sha.update(plain);
          return Promise.resolve(plain);
        } catch (err) {
          return Promise.reject(err as Error);
        }
      },
      async digest() {
        return { md5: md5.copy().digest(), sha256: sha.copy().digest() };
      },
      close() {},
    };
  },
};
