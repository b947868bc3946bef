import { X509Certificate } from "node:crypto";
import { ErrorCode, OutpostError } from "@outpost/protocol";

/** What the server needs to know about a certificate. */
export interface CertificateIdentity {
  /** Subject common name; for a device certificate, the device id. */
  commonName: string;
  /** Issuer common name ("" when the issuer has none). */
  issuerCommonName: string;
  notBefore: Date;
  notAfter: Date;
  /** SHA-256 fingerprint as colon-separated upper-case hex (node:crypto format). */
  fingerprint256: string;
  /** Serial number, upper-case hex. */
  serialNumber: string;
}

/** Reads the identity of a PEM certificate. A non-certificate is OUTPOST_TLS. */
export function certificateIdentity(certPem: string | Buffer): CertificateIdentity {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch (err) {
    throw new OutpostError(ErrorCode.Tls, "not a valid certificate", { cause: err });
  }
  return {
    commonName: commonNameOf(cert.subject),
    issuerCommonName: commonNameOf(cert.issuer),
    notBefore: new Date(cert.validFrom),
    notAfter: new Date(cert.validTo),
    fingerprint256: cert.fingerprint256,
    serialNumber: cert.serialNumber,
  };
}

/** The CN of a distinguished name in node:crypto's one-attribute-per-line form. */
export function commonNameOf(dn: string): string {
  for (const line of dn.split("\n")) {
    if (line.startsWith("CN=")) return line.slice(3);
  }
  return "";
}
