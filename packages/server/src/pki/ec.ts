import { createPublicKey, generateKeyPairSync, type KeyObject, webcrypto } from "node:crypto";
import { ErrorCode, OutpostError } from "@outpost/protocol";
import type * as x509 from "@peculiar/x509";
import { assertDeviceId } from "../registry/names.js";

/** The WebCrypto types as @peculiar/x509 names them (this package builds without the DOM library). */
type X509Crypto = Parameters<typeof x509.X509CertificateGenerator.create>[1];
type SigningKey = x509.X509CertificateCreateWithKeyParams["signingKey"];
type SigningAlgorithm = NonNullable<x509.X509CertificateCreateWithKeyParams["signingAlgorithm"]>;
import {
  type CertificateAndKey,
  type CertificateAuthority,
  type DeviceCertificateOptions,
  randomSerial,
  validityOf,
} from "./certificates.js";
import { derChildren, derOid, readDer } from "./der.js";
import { exportPrivateKey, loadPrivateKey } from "./keys.js";
import { assertDeviceCertificatePolicy, csrDeviceId, keyPolicyViolation } from "./policy.js";

/**
 * EC device keys. node-forge (the rest of the PKI tooling) cannot hold an EC public key in a
 * certificate, so certificates for P-256 keys are assembled by `@peculiar/x509` and signed with
 * the CA key through node:crypto's WebCrypto. The CA itself stays as it is (RSA from `init`).
 * Secure elements (ATECC608-class chips, many TPMs) hold P-256 keys only.
 */

const OID_EC_PUBLIC_KEY = "1.2.840.10045.2.1";

/**
 * Loaded on first use, so the CLI and the server load it only for EC keys. Its dependency
 * injection (tsyringe) needs the Reflect metadata polyfill, loaded before it.
 */
async function x509Library(): Promise<typeof x509> {
  await import("reflect-metadata");
  return import("@peculiar/x509");
}

/** Key types a device key may be generated as. */
export type DeviceKeyType = "rsa" | "p256";

/** The accepted spellings of {@link DeviceKeyType}, for CLIs. */
export function parseKeyType(value: unknown): DeviceKeyType {
  if (value === undefined || value === "rsa") return "rsa";
  if (value === "p256" || value === "P-256" || value === "prime256v1") return "p256";
  throw new OutpostError(ErrorCode.BadRequest, `unknown key type ${JSON.stringify(value)}: use rsa or p256`);
}

/** A new EC key pair on P-256 (prime256v1). */
export function generateP256Key(): KeyObject {
  return generateKeyPairSync("ec", { namedCurve: "prime256v1" }).privateKey;
}

/** Issues a device client certificate for a new P-256 key (otherwise like issueDeviceCertificate). */
export async function issueP256DeviceCertificate(
  ca: CertificateAuthority,
  options: DeviceCertificateOptions,
): Promise<CertificateAndKey> {
  assertDeviceId(options.deviceId);
  const key = generateP256Key();
  const spki = createPublicKey(key).export({ type: "spki", format: "der" });
  const certPem = await signLeafForKey(ca, spki, options.deviceId, options);
  return { certPem, keyPem: exportPrivateKey(key, options.passphrase) };
}

/** Whether a PEM CSR carries an EC key (then {@link signEcDeviceCsr} signs it). */
export function isEcCsr(csrPem: string): boolean {
  try {
    const body = /-----BEGIN (?:NEW )?CERTIFICATE REQUEST-----([A-Za-z0-9+/=\s]+)-----END/.exec(csrPem)?.[1];
    if (body === undefined) return false;
    const der = Buffer.from(body.replace(/\s+/g, ""), "base64");
    const info = derChildren(der, readDer(der, 0))[0];
    const spki = info && derChildren(der, info)[2];
    const algorithm = spki && derChildren(der, spki)[0];
    const oid = algorithm && derChildren(der, algorithm)[0];
    return oid !== undefined && derOid(der, oid) === OID_EC_PUBLIC_KEY;
  } catch {
    return false;
  }
}

/**
 * Signs a device CSR with an EC key (made on the device or by a secure element, e.g. with `openssl
 * req`) into a client certificate, with the rules of signDeviceCsr: the CSR's signature is checked,
 * only its common name is taken, the key must meet the certificate policy.
 */
export async function signEcDeviceCsr(
  ca: CertificateAuthority,
  csrPem: string,
  options: { deviceId?: string; days?: number } & Pick<DeviceCertificateOptions, "notBefore" | "notAfter">,
): Promise<string> {
  const lib = await x509Library();
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new lib.Pkcs10CertificateRequest(csrPem);
  } catch (err) {
    throw new OutpostError(ErrorCode.Tls, "cannot read the CSR: not a PEM certificate signing request", { cause: err });
  }
  const spki = Buffer.from(csr.publicKey.rawData);
  const details = createPublicKey({ key: spki, format: "der", type: "spki" });
  const weak = keyPolicyViolation({
    type: details.asymmetricKeyType,
    curve: details.asymmetricKeyDetails?.namedCurve,
  });
  if (weak) throw new OutpostError(ErrorCode.Tls, `the CSR breaks the certificate policy: ${weak}`);
  let valid = false;
  try {
    valid = await csr.verify(webcrypto as unknown as X509Crypto);
  } catch {
    valid = false;
  }
  if (!valid) throw new OutpostError(ErrorCode.Tls, "the CSR signature does not verify");
  const hash = (csr.signatureAlgorithm as { hash?: { name?: string } }).hash?.name;
  if (hash !== "SHA-256" && hash !== "SHA-384" && hash !== "SHA-512") {
    throw new OutpostError(ErrorCode.Tls, `the CSR breaks the certificate policy: signed with ${hash ?? "no hash"}`);
  }
  const cn = csrDeviceId(csr.subjectName.getField("CN")[0], options.deviceId);
  return signLeafForKey(ca, spki, cn, options);
}

/** Signs a device certificate (CN, clientAuth, the same extensions as the RSA path) for a public key given as SPKI DER. */
async function signLeafForKey(
  ca: CertificateAuthority,
  spki: Buffer,
  commonName: string,
  options: Pick<DeviceCertificateOptions, "days" | "notBefore" | "notAfter">,
): Promise<string> {
  const x = await x509Library();
  const crypto = webcrypto as unknown as X509Crypto;
  let caCert: x509.X509Certificate;
  try {
    caCert = new x.X509Certificate(ca.certPem);
  } catch (err) {
    throw new OutpostError(ErrorCode.Tls, "cannot read the CA certificate", { cause: err });
  }
  const { algorithm, signingKey } = await importSigningKey(loadPrivateKey(ca.keyPem, ca.passphrase));
  const { notBefore, notAfter } = validityOf(options, options.days ?? 825);
  const subjectKey = new x.PublicKey(spki);
  const cert = await x.X509CertificateGenerator.create(
    {
      serialNumber: randomSerial(),
      subject: [{ CN: [commonName] }],
      issuer: caCert.subjectName,
      notBefore,
      notAfter,
      publicKey: subjectKey,
      signingKey,
      signingAlgorithm: algorithm,
      extensions: [
        new x.BasicConstraintsExtension(false, undefined, true),
        new x.KeyUsagesExtension(x.KeyUsageFlags.digitalSignature, true),
        new x.ExtendedKeyUsageExtension([x.ExtendedKeyUsage.clientAuth]),
        await x.SubjectKeyIdentifierExtension.create(subjectKey, false, crypto),
        await x.AuthorityKeyIdentifierExtension.create(caCert.publicKey, false, crypto),
      ],
    },
    crypto,
  );
  const pem = cert.toString("pem");
  // Also checks that the CA key belongs to the CA certificate (the signature verifies with it).
  assertDeviceCertificatePolicy(pem, ca.certPem);
  return `${pem}\n`;
}

async function importSigningKey(key: KeyObject): Promise<{ algorithm: SigningAlgorithm; signingKey: SigningKey }> {
  const der = key.export({ type: "pkcs8", format: "der" });
  if (key.asymmetricKeyType === "rsa") {
    const algorithm = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
    const signingKey = await webcrypto.subtle.importKey("pkcs8", der, algorithm, false, ["sign"]);
    return { algorithm, signingKey: signingKey as unknown as SigningKey };
  }
  if (key.asymmetricKeyType === "ec") {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    const namedCurve = curve === "prime256v1" ? "P-256" : curve === "secp384r1" ? "P-384" : "P-521";
    const signingKey = await webcrypto.subtle.importKey("pkcs8", der, { name: "ECDSA", namedCurve }, false, ["sign"]);
    return {
      algorithm: { name: "ECDSA", hash: "SHA-256" } as SigningAlgorithm,
      signingKey: signingKey as unknown as SigningKey,
    };
  }
  throw new OutpostError(ErrorCode.Tls, `unsupported CA key type ${String(key.asymmetricKeyType)}`);
}
