import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, sign } from "node:crypto";
import { existsSync } from "node:fs";
import { ErrorCode, OutpostError } from "@outpost/protocol";
import forge from "node-forge";
import { createDataKeyFile, DATA_KEY_FILE } from "./data-key.js";
import { EmsConfig } from "./ems-config.js";
import { checkIdentityName, DEFAULT_IDENTITY, identityKey } from "./identity.js";
import { emsPaths } from "./paths.js";

/** Device ids as the server accepts them (see the server's registry names). */
const DEVICE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Options of {@link createDeviceCsr}. */
export interface CsrOptions {
  dir: string;
  /** The device id, the CSR's common name. */
  cn: string;
  /** Replace a key already in the configuration. Default false. */
  force?: boolean;
  /** Key type: "rsa" (RSA-2048) or "p256" (EC P-256, the curve secure elements offer). Default "rsa". */
  keyType?: "rsa" | "p256";
  /** Keep the key for this further identity (`identities.NAME.tls.key`). Default: the default identity. */
  identity?: string;
  env?: NodeJS.ProcessEnv;
}

/**
 * Makes a key on the device (RSA-2048, or EC P-256 with `keyType: "p256"`), stores it encrypted in `config.json` (as `tls.key`, with
 * `device.id`), and returns a PEM certificate signing request for `outpost-server device add
 * --csr`. The key never leaves the device; `init --cert` later pairs it with the issued certificate.
 */
export function createDeviceCsr(o: CsrOptions): string {
  if (!DEVICE_ID.test(o.cn)) {
    throw new OutpostError(ErrorCode.InvalidConfig, `--cn ${JSON.stringify(o.cn)} is not a valid device id`);
  }
  const env = o.env ?? process.env;
  const paths = emsPaths(o.dir);
  if (o.identity !== undefined && o.identity !== DEFAULT_IDENTITY) checkIdentityName(o.identity);
  const field = (f: string): string => identityKey(o.identity, f);
  const config = EmsConfig.open(paths.dir, { create: true, env });
  if (config.get(field("tls.key")) !== undefined && !o.force) {
    throw new OutpostError(ErrorCode.Conflict, `${paths.config} already holds a device key: use --force to replace it`);
  }
  const external =
    Boolean(env.OUTPOST_EMS_DATA_KEY) ||
    Boolean(env.CREDENTIALS_DIRECTORY && existsSync(`${env.CREDENTIALS_DIRECTORY}/${DATA_KEY_FILE}`));
  if (!external && !existsSync(paths.dataKey)) createDataKeyFile(paths.dir);
  if (o.keyType === "p256") {
    const { privateKey } = generateKeyPairSync("ec", {
      namedCurve: "prime256v1",
      privateKeyEncoding: { type: "pkcs8", format: "pem" },
      publicKeyEncoding: { type: "spki", format: "pem" },
    });
    const csrPem = ecCsrPem(o.cn, createPrivateKey(privateKey));
    config.setMany({ [field("device.id")]: o.cn, [field("tls.key")]: privateKey });
    return csrPem;
  }
  const { privateKey, publicKey } = generateKeyPairSync("rsa", {
    modulusLength: 2048,
    privateKeyEncoding: { type: "pkcs8", format: "pem" },
    publicKeyEncoding: { type: "spki", format: "pem" },
  });
  const csr = forge.pki.createCertificationRequest();
  csr.publicKey = forge.pki.publicKeyFromPem(publicKey);
  csr.setSubject([{ name: "commonName", value: o.cn }]);
  csr.sign(forge.pki.privateKeyFromPem(privateKey), forge.md.sha256.create());
  config.setMany({ [field("device.id")]: o.cn, [field("tls.key")]: privateKey });
  return forge.pki.certificationRequestToPem(csr);
}

/**
 * A PKCS#10 request (RFC 2986) for an EC key, signed ecdsa-with-SHA256 by node:crypto: node-forge
 * builds only RSA requests, so the DER is assembled with its ASN.1 encoder.
 */
export function ecCsrPem(cn: string, key: KeyObject): string {
  const { asn1 } = forge;
  const U = asn1.Class.UNIVERSAL;
  const T = asn1.Type;
  const spkiDer = createPublicKeyDer(key);
  const name = asn1.create(U, T.SEQUENCE, true, [
    asn1.create(U, T.SET, true, [
      asn1.create(U, T.SEQUENCE, true, [
        asn1.create(U, T.OID, false, asn1.oidToDer("2.5.4.3").getBytes()),
        asn1.create(U, T.UTF8, false, forge.util.encodeUtf8(cn)),
      ]),
    ]),
  ]);
  const info = asn1.create(U, T.SEQUENCE, true, [
    asn1.create(U, T.INTEGER, false, "\x00"),
    name,
    asn1.fromDer(forge.util.createBuffer(spkiDer.toString("binary"))),
    asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, []),
  ]);
  const infoDer = Buffer.from(asn1.toDer(info).getBytes(), "binary");
  const signature = sign("sha256", infoDer, key);
  const request = asn1.create(U, T.SEQUENCE, true, [
    info,
    asn1.create(U, T.SEQUENCE, true, [asn1.create(U, T.OID, false, asn1.oidToDer("1.2.840.10045.4.3.2").getBytes())]),
    asn1.create(U, T.BITSTRING, false, `\x00${signature.toString("binary")}`),
  ]);
  const der = Buffer.from(asn1.toDer(request).getBytes(), "binary").toString("base64");
  return `-----BEGIN CERTIFICATE REQUEST-----\n${der.replace(/.{1,64}/g, "$&\n")}-----END CERTIFICATE REQUEST-----\n`;
}

function createPublicKeyDer(key: KeyObject): Buffer {
  return createPublicKey(key).export({ type: "spki", format: "der" });
}
