/**
 * The program of a chunk worker thread, run with `new Worker(source, { eval: true })` so it needs
 * no file of its own (and works inside a single-file executable). It holds one running MD5 and
 * SHA-256 per session and answers each message in the order received:
 * `{ id, s, op: "open-session", key }`, `{ id, s, op: "hash", data }`,
 * `{ id, s, op: "seal", index, aad, data }` → `{ id, ct, tag }`,
 * `{ id, s, op: "open", index, aad, data }` → `{ id, data }` or `{ id, integrity: message }`,
 * `{ id, s, op: "digest" }` → `{ id, md5, sha256 }`, `{ s, op: "close" }`; any other failure → `{ id, error }`.
 * Byte results go back as transferred ArrayBuffers.
 */
export const CHUNK_WORKER_SOURCE = String.raw`
"use strict";
const { parentPort } = require("node:worker_threads");
const { createCipheriv, createDecipheriv, createHash } = require("node:crypto");
const sessions = new Map();
function nonce(index) {
  const n = Buffer.alloc(12);
  n.writeBigUInt64BE(BigInt(index), 4);
  return n;
}
function owned(b) {
  if (b.byteOffset === 0 && b.byteLength === b.buffer.byteLength) return b;
  const c = new Uint8Array(b.byteLength);
  c.set(b);
  return c;
}
function state(m) {
  const s = sessions.get(m.s);
  if (!s) throw new Error("unknown chunk session " + m.s);
  return s;
}
parentPort.on("message", (m) => {
  try {
    if (m.op === "open-session") {
      sessions.set(m.s, { key: Buffer.from(m.key), md5: createHash("md5"), sha: createHash("sha256") });
      return;
    }
    if (m.op === "close") {
      sessions.delete(m.s);
      return;
    }
    if (m.op === "crash") throw Object.assign(new Error("chunk worker crash requested"), { fatal: true });
    const s = state(m);
    if (m.op === "hash") {
      s.md5.update(m.data);
      s.sha.update(m.data);
      parentPort.postMessage({ id: m.id });
    } else if (m.op === "seal") {
      s.md5.update(m.data);
      s.sha.update(m.data);
      const c = createCipheriv("aes-256-gcm", s.key, nonce(m.index));
      c.setAAD(m.aad);
      const head = c.update(m.data);
      const tail = c.final();
      const ct = owned(tail.byteLength === 0 ? head : Buffer.concat([head, tail]));
      const tag = owned(c.getAuthTag());
      parentPort.postMessage({ id: m.id, ct, tag }, [ct.buffer, tag.buffer]);
    } else if (m.op === "open") {
      const d = m.data;
      if (d.byteLength < 16) {
        parentPort.postMessage({ id: m.id, integrity: "sealed record of " + d.byteLength + " bytes is shorter than its tag" });
        return;
      }
      const c = createDecipheriv("aes-256-gcm", s.key, nonce(m.index));
      c.setAAD(m.aad);
      c.setAuthTag(d.subarray(d.byteLength - 16));
      const head = c.update(d.subarray(0, d.byteLength - 16));
      let tail;
      try {
        tail = c.final();
      } catch {
        parentPort.postMessage({ id: m.id, integrity: "record " + m.index + " failed authentication" });
        return;
      }
      const plain = owned(tail.byteLength === 0 ? head : Buffer.concat([head, tail]));
      s.md5.update(plain);
      s.sha.update(plain);
      parentPort.postMessage({ id: m.id, data: plain }, [plain.buffer]);
    } else if (m.op === "digest") {
      const md5 = owned(s.md5.copy().digest());
      const sha256 = owned(s.sha.copy().digest());
      parentPort.postMessage({ id: m.id, md5, sha256 }, [md5.buffer, sha256.buffer]);
    } else {
      throw new Error("unknown chunk operation " + m.op);
    }
  } catch (err) {
    if (err && err.fatal) throw err;
    parentPort.postMessage({ id: m.id, error: String((err && err.message) || err) });
  }
});
`;
