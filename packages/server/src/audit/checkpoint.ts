import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, sign } from "node:crypto";
import { existsSync, readFileSync, renameSync } from "node:fs";
import { type AuditAnchor, checkpointMessage, ErrorCode, OutpostError } from "@outpost/protocol";
import { writePublicFile, writeSecretFile } from "../config/files.js";

export type { AuditAnchor } from "@outpost/protocol";
export { checkpointMessage, checkpointSignatureValid } from "@outpost/protocol";

/** The audit signing key pair of a server. */
export interface AuditSigningKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  keyId: string;
}

/** The id of a public key: SHA-256 over its SPKI DER, first 16 hex digits. */
export function auditKeyId(publicKey: KeyObject): string {
  const der = publicKey.export({ type: "spki", format: "der" });
  return createHash("sha256").update(der).digest("hex").slice(0, 16);
}

/** Signs "record `seq` has hash `hash`". */
export function signCheckpoint(key: AuditSigningKey, seq: number, hash: string, time: Date): AuditAnchor {
  return {
    version: 1,
    seq,
    hash,
    signature: sign(null, checkpointMessage(seq, hash), key.privateKey).toString("base64"),
    keyId: key.keyId,
    publicKey: key.publicKey.export({ type: "spki", format: "pem" }).toString(),
    time: time.toISOString(),
  };
}

/**
 * Reads the Ed25519 signing key at `path` (PKCS#8 PEM), creating it (mode 0600, public key beside
 * it as `<path>.pub`) when it does not exist yet.
 */
export function loadOrCreateAuditKey(path: string): AuditSigningKey {
  if (!existsSync(path)) {
    const pair = generateKeyPairSync("ed25519");
    writeSecretFile(path, pair.privateKey.export({ type: "pkcs8", format: "pem" }).toString());
    writePublicFile(`${path}.pub`, pair.publicKey.export({ type: "spki", format: "pem" }).toString());
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(readFileSync(path, "utf8"));
  } catch (err) {
    throw new OutpostError(
      ErrorCode.InvalidConfig,
      `cannot read the audit signing key ${path}: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  if (privateKey.asymmetricKeyType !== "ed25519") {
    throw new OutpostError(ErrorCode.InvalidConfig, `${path} is not an Ed25519 key`);
  }
  const publicKey = createPublicKey(privateKey);
  return { privateKey, publicKey, keyId: auditKeyId(publicKey) };
}

/** Reads a public key (SPKI PEM) or a private key file, whose public half is then used. */
export function readAuditPublicKey(path: string): KeyObject {
  try {
    const pem = readFileSync(path, "utf8");
    return pem.includes("PRIVATE KEY") ? createPublicKey(createPrivateKey(pem)) : createPublicKey(pem);
  } catch (err) {
    throw new OutpostError(
      ErrorCode.InvalidConfig,
      `cannot read the audit public key ${path}: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
}

/** Parses an anchor file; a damaged one is OUTPOST_INVALID_CONFIG naming the file. */
export function readAnchor(path: string): AuditAnchor {
  let raw: Partial<AuditAnchor>;
  try {
    raw = JSON.parse(readFileSync(path, "utf8")) as Partial<AuditAnchor>;
  } catch (err) {
    throw new OutpostError(ErrorCode.InvalidConfig, `cannot read the audit anchor ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  if (
    raw.version !== 1 ||
    !Number.isSafeInteger(raw.seq) ||
    typeof raw.hash !== "string" ||
    typeof raw.signature !== "string" ||
    typeof raw.publicKey !== "string"
  ) {
    throw new OutpostError(ErrorCode.InvalidConfig, `${path} is not an audit anchor`);
  }
  return raw as AuditAnchor;
}

/** Writes `anchor` to `path` atomically (temporary file, then rename). */
export function writeAnchor(path: string, anchor: AuditAnchor): void {
  const tmp = `${path}.tmp`;
  writePublicFile(tmp, `${JSON.stringify(anchor, null, 2)}\n`);
  renameSync(tmp, path);
}
