// The per-byte work an Outpost transfer must do at each end whatever its code: MD5 and SHA-256 of
// the whole file, and AES-256-GCM of every chunk (counter nonce, 16-byte tag at the end). Used by
// the file benchmark's "required work" ceiling, without records, window or stream layer; and the
// sending and receiving loops both ends of that ceiling share.
import { closeSync, fsyncSync, openSync, readSync, writeSync } from "node:fs";
import { createCipheriv, createDecipheriv, createHash } from "node:crypto";

// A fixed key for the ceiling: the key exchange costs microseconds per transfer, not per byte.
const WORK_KEY = Buffer.alloc(32, 7);
const CHUNK = 256 * 1024;
const HIGH_WATER = 8 * 1024 * 1024;

function nonce(i) {
  const n = Buffer.alloc(12);
  n.writeUInt32BE(i, 8);
  return n;
}

function fileHashes() {
  const md5 = createHash("md5");
  const sha = createHash("sha256");
  return {
    update(b) {
      md5.update(b);
      sha.update(b);
    },
    digests: () => [md5.digest("hex"), sha.digest("hex")],
  };
}

/** Hashes and seals chunk after chunk: `seal(plain)` returns `[ciphertext, tag]`. */
export function sender() {
  const hashes = fileHashes();
  let i = 0;
  return {
    seal(plain) {
      hashes.update(plain);
      const c = createCipheriv("aes-256-gcm", WORK_KEY, nonce(i++));
      return [c.update(plain), Buffer.concat([c.final(), c.getAuthTag()])];
    },
    digests: hashes.digests,
  };
}

/** Opens and hashes chunk after chunk: `open(message)` returns the plaintext or throws. */
export function receiver() {
  const hashes = fileHashes();
  let i = 0;
  return {
    open(message) {
      const d = createDecipheriv("aes-256-gcm", WORK_KEY, nonce(i++));
      d.setAuthTag(message.subarray(message.length - 16));
      const plain = Buffer.concat([d.update(message.subarray(0, message.length - 16)), d.final()]);
      hashes.update(plain);
      return plain;
    },
    digests: hashes.digests,
  };
}

/**
 * Sends `file` on the `ws` WebSocket in 256 KiB binary messages (each sealed by `s`, a
 * {@link sender}, when given), pausing while more than 8 MiB is unsent. Resolves with `s`.
 */
export async function sendFile(ws, file, s) {
  const fd = openSync(file, "r");
  try {
    for (;;) {
      const b = Buffer.allocUnsafe(CHUNK);
      const n = readSync(fd, b, 0, CHUNK, null);
      if (n === 0) break;
      const plain = n === CHUNK ? b : b.subarray(0, n);
      if (s) {
        const [body, tag] = s.seal(plain);
        ws.send(body, { binary: true, fin: false });
        ws.send(tag, { binary: true, fin: true });
      } else ws.send(plain, { binary: true });
      if (ws.bufferedAmount > HIGH_WATER) await new Promise((r) => ws._socket.once("drain", r));
    }
  } finally {
    closeSync(fd);
  }
  return s;
}

/**
 * Writes the binary messages arriving on `ws` to `file` (each opened by `r`, a {@link receiver},
 * when given) until a text message comes; then syncs and closes the file and calls `onEnd` with
 * that message's text.
 */
export function receiveFile(ws, file, r, onEnd) {
  const fd = openSync(file, "w");
  ws.on("message", (data, isBinary) => {
    if (isBinary) return void writeSync(fd, r ? r.open(data) : data);
    fsyncSync(fd);
    closeSync(fd);
    onEnd(String(data));
  });
}
