import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
  verify,
} from "node:crypto";
import { existsSync, readFileSync, renameSync } from "node:fs";
import { ErrorCode, OutpostError } from "@outpost/protocol";
import { writePublicFile, writeSecretFile } from "../config/files.js";

/**
 * A signed statement "record `seq` of the audit log has hash `hash`". The log carries one as an
 * `audit.checkpoint` record after every N records and on close; the latest is also written to an
 * anchor file and printed by `outpost-server audit anchor`, to be kept outside the data directory.
 * Because every hash covers all earlier records, one valid statement vouches for the whole log up
 * to `seq`: rewriting any of those records (even with every later hash recomputed) or cutting the
 * log short is detected by whoever holds the statement and the public key.
 */
export interface AuditAnchor {
  version: 1;
  /** Sequence number of the last record covered. */
  seq: number;
  /** That record's hash. */
  hash: string;
  /** Ed25519 signature (base64) over {@link checkpointMessage}(seq, hash). */
  signature: string;
  /** SHA-256 of the public key (SPKI DER), first 16 hex digits: names the key. */
  keyId: string;
  /** The public key (SPKI PEM) that verifies `signature`. */
  publicKey: string;
  /** When the statement was made (ISO 8601). */
  time: string;
}

/** The audit signing key pair of a server. */
export interface AuditSigningKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  keyId: string;
}

const CONTEXT = "outpost-audit-checkpoint-v1";

/** The exact bytes a checkpoint signs: a context string, the seq and the hash. */
export function checkpointMessage(seq: number, hash: string): Buffer {
  return Buffer.from(`${CONTEXT}\n${seq}\n${hash}`, "utf8");
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

/** Whether `signature` (base64) is a valid signature of (seq, hash) by `publicKey`. Never throws. */
export function checkpointSignatureValid(publicKey: KeyObject, seq: number, hash: string, signature: unknown): boolean {
  if (typeof signature !== "string") return false;
  try {
    return verify(null, checkpointMessage(seq, hash), publicKey, Buffer.from(signature, "base64"));
  } catch {
    return false;
  }
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
