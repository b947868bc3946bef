import { type KeyObject, randomBytes, sign as cryptoSign, X509Certificate } from "node:crypto";
import { isIP } from "node:net";
import { ErrorCode, OutpostError } from "@outpost/protocol";
import forge from "node-forge";
import { assertDeviceId } from "../registry/names.js";
import { exportPrivateKey, generateRsaKey, loadPrivateKey, toForgePublicKey } from "./keys.js";
import { assertDeviceCertificatePolicy } from "./policy.js";

/** A certificate and its private key, both PEM. `keyPem` is encrypted PKCS#8 when a passphrase was used. */
export interface CertificateAndKey {
  certPem: string;
  keyPem: string;
}

/** A certificate authority able to sign: its certificate, its key and the key's passphrase if any. */
export interface CertificateAuthority {
  certPem: string;
  keyPem: string;
  /** Passphrase of `keyPem` when it is encrypted. */
  passphrase?: string;
}

/** Validity of an issued certificate. */
export interface ValidityOptions {
  /** Start of validity. Default: five minutes ago (tolerates clock skew). Tests may set the past. */
  notBefore?: Date;
  /** End of validity. Default: `notBefore` + `days`. Tests may set the past to make an expired certificate. */
  notAfter?: Date;
}

/** Options for {@link createCertificateAuthority}. */
export interface CreateCertificateAuthorityOptions extends ValidityOptions {
  /** Subject common name, e.g. "Outpost CA". */
  commonName: string;
  /** Lifetime in days. Default 3650. */
  days?: number;
  /** Encrypts the CA key (AES-256-CBC PKCS#8). Default: not encrypted. */
  passphrase?: string;
}

/** Options for {@link issueServerCertificate}. */
export interface ServerCertificateOptions extends ValidityOptions {
  /** DNS names and IP addresses the server is reached by; all go into subjectAltName. At least one. */
  hosts: string[];
  /** Subject common name. Default: the first host. */
  commonName?: string;
  /** Lifetime in days. Default 825. */
  days?: number;
  /** Encrypts the server key. Default: not encrypted (the server must start unattended). */
  passphrase?: string;
}

/** Options for {@link issueDeviceCertificate}. */
export interface DeviceCertificateOptions extends ValidityOptions {
  /** Device id; becomes the subject common name the server binds the application key to. */
  deviceId: string;
  /** Lifetime in days, at most 825 (the certificate policy, pki/policy.ts). Default 825. */
  days?: number;
  /** Encrypts the device key (AES-256-CBC PKCS#8). Default: not encrypted. */
  passphrase?: string;
}

const SKEW_MS = 5 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;

/** Creates a self-signed RSA certificate authority for devices and servers. */
export function createCertificateAuthority(options: CreateCertificateAuthorityOptions): CertificateAndKey {
  const cn = requireName("commonName", options.commonName);
  const key = generateRsaKey();
  const cert = forge.pki.createCertificate();
  cert.publicKey = toForgePublicKey(key);
  cert.serialNumber = randomSerial();
  setValidity(cert, options, options.days ?? 3650);
  const subject = [{ name: "commonName", value: cn }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: "basicConstraints", cA: true, critical: true },
    { name: "keyUsage", keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: "subjectKeyIdentifier" },
  ]);
  signCertificate(cert, key);
  return { certPem: forge.pki.certificateToPem(cert), keyPem: exportPrivateKey(key, options.passphrase) };
}

/** Issues a TLS server certificate (EKU serverAuth) for the given host names and addresses. */
export function issueServerCertificate(ca: CertificateAuthority, options: ServerCertificateOptions): CertificateAndKey {
  if (!Array.isArray(options.hosts) || options.hosts.length === 0) {
    throw new OutpostError(ErrorCode.BadRequest, "a server certificate needs at least one host name or address");
  }
  const hosts = options.hosts.map((h) => requireName("host", h));
  const altNames = hosts.map((h) => (isIP(h) ? { type: 7, ip: h } : { type: 2, value: h }));
  const key = generateRsaKey();
  const certPem = signLeaf(ca, toForgePublicKey(key), requireName("commonName", options.commonName ?? hosts[0]!), {
    validity: options,
    days: options.days ?? 825,
    eku: { serverAuth: true },
    altNames,
  });
  return { certPem, keyPem: exportPrivateKey(key, options.passphrase) };
}

/** Issues a device client certificate (subject CN = device id, EKU clientAuth) with a new key. */
export function issueDeviceCertificate(ca: CertificateAuthority, options: DeviceCertificateOptions): CertificateAndKey {
  assertDeviceId(options.deviceId);
  const key = generateRsaKey();
  const certPem = signLeaf(ca, toForgePublicKey(key), options.deviceId, {
    validity: options,
    days: options.days ?? 825,
    eku: { clientAuth: true },
  });
  assertDeviceCertificatePolicy(certPem, ca.certPem);
  return { certPem, keyPem: exportPrivateKey(key, options.passphrase) };
}

/** Shared by every issued (non-CA) certificate. */
export interface LeafSpec {
  validity: ValidityOptions;
  days: number;
  eku: { serverAuth?: boolean; clientAuth?: boolean };
  altNames?: ({ type: number; ip: string } | { type: number; value: string })[];
}

/** Signs a leaf certificate for `publicKey` with the CA; returns its PEM. */
export function signLeaf(
  ca: CertificateAuthority,
  publicKey: forge.pki.PublicKey,
  commonName: string,
  spec: LeafSpec,
): string {
  const caCert = parseForgeCertificate(ca.certPem);
  const caKey = loadPrivateKey(ca.keyPem, ca.passphrase);
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  cert.serialNumber = randomSerial();
  setValidity(cert, spec.validity, spec.days);
  cert.setSubject([{ name: "commonName", value: commonName }]);
  cert.setIssuer(caCert.subject.attributes);
  const extensions: object[] = [
    { name: "basicConstraints", cA: false, critical: true },
    { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
    { name: "extKeyUsage", ...spec.eku },
    { name: "subjectKeyIdentifier" },
    { name: "authorityKeyIdentifier", keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
  ];
  if (spec.altNames) extensions.push({ name: "subjectAltName", altNames: spec.altNames });
  cert.setExtensions(extensions);
  signCertificate(cert, caKey);
  const pem = forge.pki.certificateToPem(cert);
  // Guard against a CA certificate that does not belong to the CA key.
  if (!new X509Certificate(pem).verify(new X509Certificate(ca.certPem).publicKey)) {
    throw new OutpostError(ErrorCode.Tls, "the CA key does not match the CA certificate");
  }
  return pem;
}

/**
 * node-forge assembles the certificate; the RSA signature over its TBSCertificate is made by
 * node:crypto, about 25 times faster than forge's JavaScript RSA (onboarding a fleet signs many).
 */
function signCertificate(cert: forge.pki.Certificate, key: KeyObject): void {
  const signer = {
    sign: () => {
      const tbs = Buffer.from(forge.asn1.toDer(cert.tbsCertificate).getBytes(), "binary");
      return cryptoSign("sha256", tbs, key).toString("binary");
    },
  };
  cert.sign(signer as unknown as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
}

function parseForgeCertificate(pem: string): forge.pki.Certificate {
  try {
    return forge.pki.certificateFromPem(pem);
  } catch (err) {
    throw new OutpostError(ErrorCode.Tls, "cannot read the CA certificate: not an RSA PEM certificate", { cause: err });
  }
}

function setValidity(cert: forge.pki.Certificate, v: ValidityOptions, days: number): void {
  const { notBefore, notAfter } = validityOf(v, days);
  cert.validity.notBefore = notBefore;
  cert.validity.notAfter = notAfter;
}

/** The validity of a certificate issued now for `days` (OUTPOST_BAD_REQUEST when they make no sense). */
export function validityOf(v: ValidityOptions, days: number): { notBefore: Date; notAfter: Date } {
  if (!Number.isSafeInteger(days) || days <= 0) {
    throw new OutpostError(ErrorCode.BadRequest, `certificate days must be a positive integer, got ${String(days)}`);
  }
  const notBefore = v.notBefore ?? new Date(Date.now() - SKEW_MS);
  const notAfter = v.notAfter ?? new Date(notBefore.getTime() + days * DAY_MS);
  if (!(notAfter.getTime() > notBefore.getTime())) {
    throw new OutpostError(ErrorCode.BadRequest, "certificate notAfter must be later than notBefore");
  }
  return { notBefore, notAfter };
}

/** 128 random bits as a positive DER INTEGER (hex, with a leading 00 when the top bit is set). */
export function randomSerial(): string {
  const bytes = randomBytes(16);
  if (bytes[0] === 0) bytes[0] = 1;
  const hex = bytes.toString("hex");
  return bytes[0]! >= 0x80 ? `00${hex}` : hex;
}

function requireName(what: string, value: unknown): string {
  if (typeof value !== "string" || value.length === 0 || value.length > 253 || hasControlChar(value)) {
    throw new OutpostError(ErrorCode.BadRequest, `invalid ${what} ${JSON.stringify(value)}`);
  }
  return value;
}

function hasControlChar(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) < 0x20 || s.charCodeAt(i) === 0x7f) return true;
  return false;
}
