import { generateKeyPairSync } from "node:crypto";
import { existsSync } from "node:fs";
import { ErrorCode, OutpostError } from "@outpost/protocol";
import forge from "node-forge";
import { createDataKeyFile, DATA_KEY_FILE } from "./data-key.js";
import { EmsConfig } from "./ems-config.js";
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
  env?: NodeJS.ProcessEnv;
}

/**
 * Makes an RSA-2048 key on the device, stores it encrypted in `config.json` (as `tls.key`, with
 * `device.id`), and returns a PEM certificate signing request for `outpost-server device add
 * --csr`. The key never leaves the device; `init --cert` later pairs it with the issued certificate.
 */
export function createDeviceCsr(o: CsrOptions): string {
  if (!DEVICE_ID.test(o.cn)) {
    throw new OutpostError(ErrorCode.InvalidConfig, `--cn ${JSON.stringify(o.cn)} is not a valid device id`);
  }
  const env = o.env ?? process.env;
  const paths = emsPaths(o.dir);
  const config = EmsConfig.open(paths.dir, { create: true, env });
  if (config.data.tls.key !== undefined && !o.force) {
    throw new OutpostError(ErrorCode.Conflict, `${paths.config} already holds a device key: use --force to replace it`);
  }
  const external =
    Boolean(env.OUTPOST_EMS_DATA_KEY) ||
    Boolean(env.CREDENTIALS_DIRECTORY && existsSync(`${env.CREDENTIALS_DIRECTORY}/${DATA_KEY_FILE}`));
  if (!external && !existsSync(paths.dataKey)) createDataKeyFile(paths.dir);
  const { privateKey, publicKey } = generateKeyPairSync("rsa", {
    modulusLength: 2048,
    privateKeyEncoding: { type: "pkcs8", format: "pem" },
    publicKeyEncoding: { type: "spki", format: "pem" },
  });
  const csr = forge.pki.createCertificationRequest();
  csr.publicKey = forge.pki.publicKeyFromPem(publicKey);
  csr.setSubject([{ name: "commonName", value: o.cn }]);
  csr.sign(forge.pki.privateKeyFromPem(privateKey), forge.md.sha256.create());
  config.setMany({ "device.id": o.cn, "tls.key": privateKey });
  return forge.pki.certificationRequestToPem(csr);
}
