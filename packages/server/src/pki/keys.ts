import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { ErrorCode, OutpostError } from "@outpost/protocol";
import forge from "node-forge";
import { encryptPkcs8 } from "./pkcs8.js";

/** RSA modulus size for every generated key. */
export const RSA_BITS = 2048;

/** A new RSA key pair (node:crypto: far faster than generating it in JavaScript). */
export function generateRsaKey(): KeyObject {
  return generateKeyPairSync("rsa", { modulusLength: RSA_BITS }).privateKey;
}

/**
 * PKCS#8 PEM of a private key; encrypted when a passphrase is given (PBES2: PBKDF2-HMAC-SHA256 with
 * 600,000 iterations and AES-256-CBC, see {@link encryptPkcs8}), so the file is useless without it.
 */
export function exportPrivateKey(key: KeyObject, passphrase?: string): string {
  if (passphrase === undefined) return key.export({ type: "pkcs8", format: "pem" }).toString();
  if (passphrase.length === 0) throw new OutpostError(ErrorCode.BadRequest, "key passphrase must not be empty");
  return encryptPkcs8(key, passphrase);
}

/** Reads a PEM private key (encrypted or not). A wrong or missing passphrase is OUTPOST_TLS. */
export function loadPrivateKey(pem: string, passphrase?: string): KeyObject {
  try {
    return passphrase === undefined ? createPrivateKey(pem) : createPrivateKey({ key: pem, passphrase });
  } catch (err) {
    const encrypted = typeof pem === "string" && pem.includes("ENCRYPTED");
    throw new OutpostError(
      ErrorCode.Tls,
      encrypted
        ? "cannot read the private key: it is encrypted and the passphrase is missing or wrong"
        : "cannot read the private key: not a valid PEM private key",
      { cause: err },
    );
  }
}

/** Whether a PEM private key is passphrase-protected. */
export function isEncryptedKeyPem(pem: string): boolean {
  return /-----BEGIN ENCRYPTED PRIVATE KEY-----/.test(pem) || /Proc-Type: 4,ENCRYPTED/.test(pem);
}

/** The key as node-forge needs it for signing. Only RSA keys are supported by the PKI tooling. */
export function toForgePrivateKey(key: KeyObject): forge.pki.rsa.PrivateKey {
  if (key.asymmetricKeyType !== "rsa") {
    throw new OutpostError(
      ErrorCode.Tls,
      `unsupported key type ${String(key.asymmetricKeyType)}: the PKI tooling uses RSA`,
    );
  }
  return forge.pki.privateKeyFromPem(
    key.export({ type: "pkcs8", format: "pem" }).toString(),
  ) as forge.pki.rsa.PrivateKey;
}

/** The public half of a private key, for node-forge. */
export function toForgePublicKey(key: KeyObject): forge.pki.rsa.PublicKey {
  const spki = createPublicKey(key).export({ type: "spki", format: "pem" }).toString();
  return forge.pki.publicKeyFromPem(spki) as forge.pki.rsa.PublicKey;
}
