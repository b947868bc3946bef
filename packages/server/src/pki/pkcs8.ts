import { createCipheriv, type KeyObject, pbkdf2Sync, randomBytes } from "node:crypto";

/**
 * Work factor of passphrase-protected private keys: PBKDF2-HMAC-SHA256 with 600,000 iterations,
 * the count OWASP's Password Storage Cheat Sheet recommends for PBKDF2-HMAC-SHA256. node:crypto's
 * own `export({ cipher })` uses OpenSSL's default of 2,048 iterations and cannot be told otherwise,
 * so the PBES2 structure is written here. Every PKCS#8 reader (OpenSSL, node:crypto, Go, Java)
 * reads it; keys written with fewer iterations still load.
 */
export const PBKDF2_ITERATIONS = 600_000;

const OID_PBES2 = "1.2.840.113549.1.5.13";
const OID_PBKDF2 = "1.2.840.113549.1.5.12";
const OID_HMAC_SHA256 = "1.2.840.113549.2.9";
const OID_AES256_CBC = "2.16.840.1.101.3.4.1.42";

/**
 * An encrypted PKCS#8 PEM (`BEGIN ENCRYPTED PRIVATE KEY`): PBES2 with PBKDF2-HMAC-SHA256
 * ({@link PBKDF2_ITERATIONS}, 16-byte random salt) and AES-256-CBC.
 */
export function encryptPkcs8(key: KeyObject, passphrase: string, iterations = PBKDF2_ITERATIONS): string {
  const plain = key.export({ type: "pkcs8", format: "der" });
  const salt = randomBytes(16);
  const iv = randomBytes(16);
  const dk = pbkdf2Sync(Buffer.from(passphrase, "utf8"), salt, iterations, 32, "sha256");
  const cipher = createCipheriv("aes-256-cbc", dk, iv);
  const encrypted = Buffer.concat([cipher.update(plain), cipher.final()]);
  dk.fill(0);
  const der = seq(
    seq(
      oid(OID_PBES2),
      seq(
        seq(oid(OID_PBKDF2), seq(octets(salt), integer(iterations), seq(oid(OID_HMAC_SHA256), NULL))),
        seq(oid(OID_AES256_CBC), octets(iv)),
      ),
    ),
    octets(encrypted),
  );
  const b64 = der.toString("base64").replace(/.{1,64}/g, "$&\n");
  return `-----BEGIN ENCRYPTED PRIVATE KEY-----\n${b64}-----END ENCRYPTED PRIVATE KEY-----\n`;
}

const NULL = Buffer.from([0x05, 0x00]);

function tlv(tag: number, body: Buffer): Buffer {
  const n = body.length;
  let len: Buffer;
  if (n < 0x80) len = Buffer.from([n]);
  else if (n < 0x100) len = Buffer.from([0x81, n]);
  else if (n < 0x10000) len = Buffer.from([0x82, n >> 8, n & 0xff]);
  else len = Buffer.from([0x83, n >> 16, (n >> 8) & 0xff, n & 0xff]);
  return Buffer.concat([Buffer.from([tag]), len, body]);
}

function seq(...items: Buffer[]): Buffer {
  return tlv(0x30, Buffer.concat(items));
}

function octets(b: Buffer): Buffer {
  return tlv(0x04, b);
}

function integer(value: number): Buffer {
  const bytes: number[] = [];
  for (let v = value; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  if (bytes.length === 0 || bytes[0]! >= 0x80) bytes.unshift(0);
  return tlv(0x02, Buffer.from(bytes));
}

function oid(dotted: string): Buffer {
  const parts = dotted.split(".").map(Number);
  const out: number[] = [40 * parts[0]! + parts[1]!];
  for (const p of parts.slice(2)) {
    const chunk: number[] = [p & 0x7f];
    for (let v = Math.floor(p / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift((v & 0x7f) | 0x80);
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}
