import { ErrorCode, OutpostError } from "@outpost/protocol";
import forge from "node-forge";
import { assertDeviceId } from "../registry/names.js";
import { type CertificateAuthority, signLeaf, type ValidityOptions } from "./certificates.js";
import { exportPrivateKey, generateRsaKey, toForgePrivateKey, toForgePublicKey } from "./keys.js";
import { assertDeviceCertificatePolicy, csrDeviceId, keyPolicyViolation, signaturePolicyViolation } from "./policy.js";

/** Options for {@link createDeviceCsr}. */
export interface DeviceCsrOptions {
  /** Device id; becomes the subject common name. */
  deviceId: string;
  /** Encrypts the generated key (AES-256-CBC PKCS#8). Default: not encrypted. */
  passphrase?: string;
}

/** Options for {@link signDeviceCsr}. */
export interface SignDeviceCsrOptions extends ValidityOptions {
  /** When given, the CSR's common name must equal it. Default: any valid device id is accepted. */
  deviceId?: string;
  /** Lifetime in days. Default 825. */
  days?: number;
}

/**
 * Creates a key and a certificate signing request on the device, so its private key never leaves
 * it: only `csrPem` is sent to whoever holds the CA.
 */
export function createDeviceCsr(options: DeviceCsrOptions): { csrPem: string; keyPem: string } {
  assertDeviceId(options.deviceId);
  const key = generateRsaKey();
  const csr = forge.pki.createCertificationRequest();
  csr.publicKey = toForgePublicKey(key);
  csr.setSubject([{ name: "commonName", value: options.deviceId }]);
  csr.sign(toForgePrivateKey(key), forge.md.sha256.create());
  return { csrPem: forge.pki.certificationRequestToPem(csr), keyPem: exportPrivateKey(key, options.passphrase) };
}

/**
 * Signs a device CSR into a client certificate (CN = device id, EKU clientAuth). The CSR's own
 * signature is checked (proof that the requester holds the key); only the common name is taken from
 * it, never extensions. Failures are OUTPOST_TLS, or OUTPOST_FORBIDDEN when the CN is not the
 * expected device.
 */
export function signDeviceCsr(ca: CertificateAuthority, csrPem: string, options: SignDeviceCsrOptions = {}): string {
  let csr: forge.pki.CertificateSigningRequest;
  try {
    csr = forge.pki.certificationRequestFromPem(csrPem);
  } catch (err) {
    throw new OutpostError(ErrorCode.Tls, "cannot read the CSR: not a PEM RSA certificate signing request", {
      cause: err,
    });
  }
  let valid = false;
  try {
    valid = csr.verify();
  } catch {
    valid = false;
  }
  if (!valid) throw new OutpostError(ErrorCode.Tls, "the CSR signature does not verify");
  const cn = csrDeviceId(csr.subject.getField("CN")?.value as unknown, options.deviceId);
  if (!csr.publicKey) throw new OutpostError(ErrorCode.Tls, "the CSR carries no public key");
  const bits = (csr.publicKey as forge.pki.rsa.PublicKey).n?.bitLength();
  const weak =
    keyPolicyViolation({ type: "rsa", bits }) ??
    signaturePolicyViolation((csr as unknown as { siginfo?: { algorithmOid?: string } }).siginfo?.algorithmOid ?? "");
  if (weak) throw new OutpostError(ErrorCode.Tls, `the CSR breaks the certificate policy: ${weak}`);
  const certPem = signLeaf(ca, csr.publicKey, cn, {
    validity: options,
    days: options.days ?? 825,
    eku: { clientAuth: true },
  });
  assertDeviceCertificatePolicy(certPem, ca.certPem);
  return certPem;
}
