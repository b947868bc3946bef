import type { X509Certificate } from "node:crypto";
import { derChildren, derOid, readDer } from "./der.js";

/**
 * The certificate policy for device certificates, enforced when the CA issues one (`device add`,
 * `pki device`, `pki sign-csr`) and again at every TLS handshake, so a certificate made by other
 * means (the `openssl` CLI with the CA key) is held to the same rules:
 *
 * - key: RSA of at least {@link MIN_RSA_BITS} bits, or EC on P-256, P-384 or P-521;
 * - signature: SHA-256 or stronger (RSA PKCS#1 v1.5, RSA-PSS or ECDSA);
 * - a leaf: not a CA (`basicConstraints` CA:TRUE is refused), issued directly by the device CA
 *   (no intermediate);
 * - `keyUsage` with digitalSignature and `extendedKeyUsage` with clientAuth (so a certificate with
 *   no extensions is refused);
 * - validity of at most {@link MAX_DEVICE_CERT_DAYS} days.
 */
export const MIN_RSA_BITS = 2048;
/** Longest validity of a device certificate, in days. */
export const MAX_DEVICE_CERT_DAYS = 825;

const EC_CURVES = new Set(["prime256v1", "secp384r1", "secp521r1"]);
const STRONG_SIGNATURES = new Map([
  ["1.2.840.113549.1.1.11", "sha256WithRSAEncryption"],
  ["1.2.840.113549.1.1.12", "sha384WithRSAEncryption"],
  ["1.2.840.113549.1.1.13", "sha512WithRSAEncryption"],
  ["1.2.840.113549.1.1.10", "RSASSA-PSS"],
  ["1.2.840.10045.4.3.2", "ecdsa-with-SHA256"],
  ["1.2.840.10045.4.3.3", "ecdsa-with-SHA384"],
  ["1.2.840.10045.4.3.4", "ecdsa-with-SHA512"],
]);
const OID_KEY_USAGE = "2.5.29.15";
const OID_CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";
const DAY_MS = 86_400_000;
// Issuance back-dates notBefore by five minutes for clock skew.
const SKEW_MS = 10 * 60_000;

/** Whether a public key meets the policy; the reason when it does not. */
export function keyPolicyViolation(details: {
  type: string | undefined;
  bits?: number | undefined;
  curve?: string | undefined;
}): string | undefined {
  if (details.type === "rsa" || details.type === "rsa-pss") {
    if ((details.bits ?? 0) < MIN_RSA_BITS) {
      return `RSA key of ${details.bits ?? "unknown"} bits; at least ${MIN_RSA_BITS} are required`;
    }
    return undefined;
  }
  if (details.type === "ec") {
    if (!details.curve || !EC_CURVES.has(details.curve)) {
      return `EC key on curve ${details.curve ?? "unknown"}; P-256, P-384 or P-521 is required`;
    }
    return undefined;
  }
  return `${details.type ?? "unknown"} key; RSA (${MIN_RSA_BITS} bits and up) or EC (P-256 and up) is required`;
}

/** Whether a signature algorithm (by OID) meets the policy; the reason when it does not. */
export function signaturePolicyViolation(oid: string): string | undefined {
  return STRONG_SIGNATURES.has(oid) ? undefined : `signature algorithm ${oid} is weaker than SHA-256 or not allowed`;
}

/**
 * Why a device certificate breaks the policy, or undefined when it meets it. `ca` is the device CA
 * the certificate must be issued by directly.
 */
export function deviceCertificateViolation(cert: X509Certificate, ca: X509Certificate): string | undefined {
  const key = cert.publicKey.asymmetricKeyDetails;
  const keyProblem = keyPolicyViolation({
    type: cert.publicKey.asymmetricKeyType,
    bits: key?.modulusLength,
    curve: key?.namedCurve,
  });
  if (keyProblem) return keyProblem;
  if (cert.ca) return "a CA certificate (basicConstraints CA:TRUE) cannot be a device certificate";
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) {
    return "not issued directly by the device CA (intermediate CAs are not accepted)";
  }
  let parsed: { signatureOid: string; digitalSignature: boolean | undefined };
  try {
    parsed = parseCertificate(cert.raw);
  } catch {
    return "the certificate cannot be parsed";
  }
  const sig = signaturePolicyViolation(parsed.signatureOid);
  if (sig) return sig;
  if (parsed.digitalSignature === undefined) return "no keyUsage extension (digitalSignature is required)";
  if (!parsed.digitalSignature) return "keyUsage lacks digitalSignature";
  const eku = cert.keyUsage;
  if (!eku || eku.length === 0) return "no extendedKeyUsage extension (clientAuth is required)";
  if (!eku.includes(OID_CLIENT_AUTH)) return "extendedKeyUsage lacks clientAuth";
  const validMs = Date.parse(cert.validTo) - Date.parse(cert.validFrom);
  if (validMs > MAX_DEVICE_CERT_DAYS * DAY_MS + SKEW_MS) {
    return `valid for ${Math.round(validMs / DAY_MS)} days; at most ${MAX_DEVICE_CERT_DAYS} are allowed`;
  }
  return undefined;
}

/** The signature algorithm and the keyUsage digitalSignature bit (undefined without keyUsage). */
function parseCertificate(der: Buffer): { signatureOid: string; digitalSignature: boolean | undefined } {
  const top = readDer(der, 0);
  const [tbs, sigAlg] = derChildren(der, top);
  if (!tbs || !sigAlg) throw new RangeError("not a certificate");
  const sigOid = derChildren(der, sigAlg)[0];
  if (!sigOid) throw new RangeError("no signature algorithm");
  let digitalSignature: boolean | undefined;
  const extWrapper = derChildren(der, tbs).find((el) => el.tag === 0xa3);
  if (extWrapper) {
    const list = derChildren(der, extWrapper)[0];
    for (const ext of list ? derChildren(der, list) : []) {
      const parts = derChildren(der, ext);
      if (derOid(der, parts[0]!) !== OID_KEY_USAGE) continue;
      const value = parts.at(-1)!;
      const bits = readDer(der, value.start, value.end);
      // BIT STRING: first content byte is the count of unused bits; digitalSignature is bit 0.
      digitalSignature = bits.end - bits.start >= 2 && (der[bits.start + 1]! & 0x80) !== 0;
    }
  }
  return { signatureOid: derOid(der, sigOid), digitalSignature };
}
