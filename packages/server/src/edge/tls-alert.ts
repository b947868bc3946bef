import { createCipheriv, createHmac } from "node:crypto";

/** TLS alert descriptions (RFC 8446 section 6) the edge sends when it refuses a handshake. */
export const TlsAlert = {
  badCertificate: 42,
  unsupportedCertificate: 43,
  certificateRevoked: 44,
  certificateExpired: 45,
  certificateUnknown: 46,
  unknownCa: 48,
  accessDenied: 49,
  internalError: 80,
  certificateRequired: 116,
} as const;

/**
 * A fatal TLS 1.3 alert record, encrypted under the server's application traffic secret.
 *
 * Node judges a client certificate only after OpenSSL has finished the handshake (its verify
 * callback accepts everything) and offers no way to send an alert, so a refused handshake used to
 * end in a bare reset. The edge keeps the server's traffic secret from the `keylog` event and
 * writes the alert itself as the next record: `seq` is the number of records the server has sent
 * under that secret (the two NewSessionTickets OpenSSL sends after a full handshake; none has been
 * sent yet when a resumed handshake is judged). Returns undefined for a cipher suite it does not know.
 */
export function tls13AlertRecord(
  cipherSuite: string,
  secret: Buffer,
  seq: number,
  description: number,
): Buffer | undefined {
  const suite = SUITES[cipherSuite];
  if (!suite) return undefined;
  const key = expandLabel(suite.hash, secret, "key", suite.keyBytes);
  const iv = expandLabel(suite.hash, secret, "iv", 12);
  const nonce = Buffer.from(iv);
  const seqBytes = Buffer.alloc(8);
  seqBytes.writeBigUInt64BE(BigInt(seq));
  for (let i = 0; i < 8; i++) nonce[4 + i]! ^= seqBytes[i]!;
  // TLSInnerPlaintext: alert level fatal (2), description, content type alert (21).
  const inner = Buffer.from([2, description, 21]);
  const header = Buffer.from([23, 3, 3, 0, inner.length + 16]);
  const cipher = createCipheriv(suite.cipher as "aes-256-gcm", key, nonce, { authTagLength: 16 });
  cipher.setAAD(header);
  const body = Buffer.concat([cipher.update(inner), cipher.final(), cipher.getAuthTag()]);
  key.fill(0);
  return Buffer.concat([header, body]);
}

const SUITES: Record<
  string,
  { hash: string; cipher: "aes-128-gcm" | "aes-256-gcm" | "chacha20-poly1305"; keyBytes: number }
> = {
  TLS_AES_128_GCM_SHA256: { hash: "sha256", cipher: "aes-128-gcm", keyBytes: 16 },
  TLS_AES_256_GCM_SHA384: { hash: "sha384", cipher: "aes-256-gcm", keyBytes: 32 },
  TLS_CHACHA20_POLY1305_SHA256: { hash: "sha256", cipher: "chacha20-poly1305", keyBytes: 32 },
};

/** HKDF-Expand-Label of RFC 8446 section 7.1, with an empty context. */
function expandLabel(hash: string, secret: Buffer, label: string, length: number): Buffer {
  const full = Buffer.from(`tls13 ${label}`, "latin1");
  const info = Buffer.concat([Buffer.from([length >> 8, length & 0xff, full.length]), full, Buffer.from([0])]);
  const blocks: Buffer[] = [];
  let previous = Buffer.alloc(0);
  for (let i = 1, have = 0; have < length; i++) {
    previous = createHmac(hash, secret)
      .update(Buffer.concat([previous, info, Buffer.from([i])]))
      .digest();
    blocks.push(previous);
    have += previous.length;
  }
  return Buffer.concat(blocks).subarray(0, length);
}
