import { X509Certificate } from "node:crypto";
import { ErrorCode, OutpostError } from "@outpost/protocol";
import { derChildren, derOid, readDer } from "./der.js";
import { assertDeviceId } from "../registry/names.js";

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
const OID_BASIC_CONSTRAINTS = "2.5.29.19";
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
  let parsed: ParsedCertificate;
  try {
    parsed = parseCertificate(cert.raw);
  } catch {
    return "the certificate cannot be parsed";
  }
  // node:crypto's `ca` is false for CA:TRUE without keyCertSign, so basicConstraints is read here.
  if (cert.ca || parsed.basicConstraintsCa) {
    return "a CA certificate (basicConstraints CA:TRUE) cannot be a device certificate";
  }
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) {
    return "not issued directly by the device CA (intermediate CAs are not accepted)";
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

interface ParsedCertificate {
  signatureOid: string;
  /** The keyUsage digitalSignature bit; undefined without a keyUsage extension. */
  digitalSignature: boolean | undefined;
  /** basicConstraints cA (false when the extension is absent). */
  basicConstraintsCa: boolean;
}

function parseCertificate(der: Buffer): ParsedCertificate {
  const top = readDer(der, 0);
  const [tbs, sigAlg] = derChildren(der, top);
  if (!tbs || !sigAlg) throw new RangeError("not a certificate");
  const sigOid = derChildren(der, sigAlg)[0];
  if (!sigOid) throw new RangeError("no signature algorithm");
  let digitalSignature: boolean | undefined;
  let basicConstraintsCa = false;
  const extWrapper = derChildren(der, tbs).find((el) => el.tag === 0xa3);
  if (extWrapper) {
    const list = derChildren(der, extWrapper)[0];
    for (const ext of list ? derChildren(der, list) : []) {
      const parts = derChildren(der, ext);
      const oid = derOid(der, parts[0]!);
      const value = parts.at(-1)!;
      const inner = readDer(der, value.start, value.end);
      if (oid === OID_KEY_USAGE) {
        // BIT STRING: first content byte is the count of unused bits; digitalSignature is bit 0.
        digitalSignature = inner.end - inner.start >= 2 && (der[inner.start + 1]! & 0x80) !== 0;
      } else if (oid === OID_BASIC_CONSTRAINTS) {
        // SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLenConstraint INTEGER OPTIONAL }
        const first = derChildren(der, inner)[0];
        basicConstraintsCa = first?.tag === 0x01 && der[first.start] !== 0;
      }
    }
  }
  return { signatureOid: derOid(der, sigOid), digitalSignature, basicConstraintsCa };
}

/** Throws OUTPOST_TLS naming the rule when an issued device certificate breaks the policy. */
export function assertDeviceCertificatePolicy(certPem: string, caPem: string): void {
  const violation = deviceCertificateViolation(new X509Certificate(certPem), new X509Certificate(caPem));
  if (violation)
    throw new OutpostError(ErrorCode.Tls, `the certificate would break the certificate policy: ${violation}`);
}

/**
 * The device id a CSR's common name gives: a valid device id, and `expected` when one is given
 * (OUTPOST_TLS for an invalid one, OUTPOST_FORBIDDEN for another device's).
 */
export function csrDeviceId(cn: unknown, expected?: string): string {
  try {
    assertDeviceId(cn);
  } catch (err) {
    throw new OutpostError(ErrorCode.Tls, `the CSR common name is not a valid device id: ${JSON.stringify(cn)}`, {
      cause: err,
    });
  }
  if (expected !== undefined && cn !== expected) {
    throw new OutpostError(
      ErrorCode.Forbidden,
      `the CSR is for device ${JSON.stringify(cn)}, expected ${JSON.stringify(expected)}`,
    );
  }
  return cn;
}
