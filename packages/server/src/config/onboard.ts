import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { ErrorCode, OutpostError } from "@outpost/protocol";
import { openDataAuditLog } from "../audit/open.js";
import type { AuditSink } from "../audit/types.js";
import { type CertificateAuthority, issueDeviceCertificate } from "../pki/certificates.js";
import { signDeviceCsr } from "../pki/csr.js";
import { type DeviceKeyType, isEcCsr, issueP256DeviceCertificate, signEcDeviceCsr } from "../pki/ec.js";
import { certificateIdentity } from "../pki/identity.js";
import { assertDeviceId, assertThingName } from "../registry/names.js";
import { asyncRegistryOf } from "../registry/async-sqlite.js";
import type { AsyncRegistry } from "../registry/async-types.js";
import { SqliteRegistry } from "../registry/sqlite.js";
import { readCaKeyFile } from "./ca-key.js";
import { writePublicFile, writeSecretFile } from "./files.js";
import { loadServerConfig } from "./server-config.js";

/** An open registry, CA and audit sink to onboard into (instead of a data directory). */
export interface OnboardingTarget {
  /** The registry; the device, its certificate, Things and key are written in one transaction. */
  registry: Pick<AsyncRegistry, "getDevice" | "getThing" | "transaction">;
  ca: CertificateAuthority;
  audit?: AuditSink;
  /** URL written into device.json. */
  edgeUrl: string;
}

/** Options for {@link onboardDevice}. */
export interface OnboardDeviceOptions {
  deviceId: string;
  /** Things assigned to the device. Default none. A Thing that belongs to another device is a conflict. */
  things?: string[];
  /** Encrypts the generated device key. Ignored with `csrPem` (the device made its own key). Default: not encrypted. */
  passphrase?: string;
  /**
   * A CSR made on the device ({@link createDeviceCsr}, `outpost-ems csr`, `openssl req`, a secure
   * element), RSA or EC; then no key is generated or written.
   */
  csrPem?: string;
  /** Type of the generated device key (without `csrPem`). Default "rsa" (RSA-2048); "p256" is EC P-256. */
  keyType?: DeviceKeyType;
  /** Lifetime of the application key in ms. Default: no expiry. */
  keyTtlMs?: number;
  /** Lifetime of the device certificate in days. Default 825. */
  certDays?: number;
  /** Bundle directory to create; must not exist or be empty. */
  outDir: string;
  /** Free-text description of the device. Default "". */
  description?: string;
  /** Passphrase of the CA key when onboarding from a data directory whose CA key is encrypted. */
  caPassphrase?: string;
  /** Who onboards, for the audit record. Default "system". */
  actor?: string;
}

/** The files of an onboarding bundle (absolute paths). */
export interface OnboardingFiles {
  dir: string;
  ca: string;
  cert: string;
  /** Absent when the device sent a CSR and keeps its own key. */
  key?: string;
  appKey: string;
  manifest: string;
}

/** Result of {@link onboardDevice}. `appKey` is the plaintext key, shown once. */
export interface OnboardDeviceResult {
  deviceId: string;
  keyId: string;
  appKey: string;
  files: OnboardingFiles;
}

/** What `device.json` in a bundle holds. No secret is in it. */
export interface DeviceManifest {
  version: 1;
  deviceId: string;
  url: string;
  things: string[];
  /** File names relative to the bundle directory. */
  files: { ca: string; cert: string; key: string | null; appKey: string };
  keyEncrypted: boolean;
  keyId: string;
  certificate: { fingerprint256: string; notAfter: string };
}

/**
 * Onboards a device in one step: registers it, assigns its Things, issues its certificate (or signs
 * its CSR), creates an application key, and writes a bundle directory with `ca.pem`, `device.pem`,
 * `device.key` (0600, unless a CSR was given), `app-key` (0600) and `device.json`. The certificate
 * is made before the registry is touched, so a bad CSR or CA passphrase changes nothing.
 */
export async function onboardDevice(
  target: string | OnboardingTarget,
  options: OnboardDeviceOptions,
): Promise<OnboardDeviceResult> {
  if (typeof target !== "string") return onboardInto(target, options);
  const config = loadServerConfig(target);
  const p = config.paths;
  const ca: CertificateAuthority = {
    certPem: readFileSync(p.caCert, "utf8"),
    keyPem: readCaKeyFile(p.caKey, options.caPassphrase),
    ...(options.caPassphrase === undefined ? {} : { passphrase: options.caPassphrase }),
  };
  const registry = asyncRegistryOf(new SqliteRegistry(p.registry));
  const audit = openDataAuditLog(p);
  try {
    return await onboardInto({ registry, ca, audit, edgeUrl: config.edge.publicUrl }, options);
  } finally {
    await registry.close();
    await audit.close();
  }
}

async function onboardInto(t: OnboardingTarget, o: OnboardDeviceOptions): Promise<OnboardDeviceResult> {
  assertDeviceId(o.deviceId);
  const things = [...new Set(o.things ?? [])];
  for (const name of things) assertThingName(name);
  const outDir = resolve(o.outDir);
  if (existsSync(outDir) && readdirSync(outDir).length > 0) {
    throw new OutpostError(ErrorCode.Conflict, `${outDir} exists and is not empty; choose another --out directory`);
  }
  if (await t.registry.getDevice(o.deviceId))
    throw new OutpostError(ErrorCode.Conflict, `device ${o.deviceId} already exists`);
  for (const name of things) {
    const owner = (await t.registry.getThing(name))?.deviceId;
    if (owner !== undefined)
      throw new OutpostError(ErrorCode.Conflict, `Thing ${name} already belongs to device ${owner}`);
  }

  const days = o.certDays === undefined ? {} : { days: o.certDays };
  let certPem: string;
  let keyPem: string | undefined;
  if (o.csrPem !== undefined) {
    certPem = isEcCsr(o.csrPem)
      ? await signEcDeviceCsr(t.ca, o.csrPem, { deviceId: o.deviceId, ...days })
      : signDeviceCsr(t.ca, o.csrPem, { deviceId: o.deviceId, ...days });
  } else {
    const options = {
      deviceId: o.deviceId,
      ...days,
      ...(o.passphrase === undefined ? {} : { passphrase: o.passphrase }),
    };
    const issued =
      o.keyType === "p256" ? await issueP256DeviceCertificate(t.ca, options) : issueDeviceCertificate(t.ca, options);
    certPem = issued.certPem;
    keyPem = issued.keyPem;
  }

  const { key, record } = await t.registry.transaction(async (tx) => {
    await tx.createDevice(o.deviceId, o.description ?? "");
    await tx.recordCertificate(o.deviceId, certificateIdentity(certPem));
    for (const name of things) {
      // Checked again inside the transaction: another process may have assigned it meanwhile.
      const owner = (await tx.getThing(name))?.deviceId;
      if (owner !== undefined)
        throw new OutpostError(ErrorCode.Conflict, `Thing ${name} already belongs to device ${owner}`);
      await tx.assignThing(name, o.deviceId);
    }
    return tx.createKey(o.deviceId, {
      label: "onboarding",
      ...(o.keyTtlMs === undefined ? {} : { ttlMs: o.keyTtlMs }),
    });
  });

  const files: OnboardingFiles = {
    dir: outDir,
    ca: join(outDir, "ca.pem"),
    cert: join(outDir, "device.pem"),
    appKey: join(outDir, "app-key"),
    manifest: join(outDir, "device.json"),
  };
  writePublicFile(files.ca, t.ca.certPem);
  writePublicFile(files.cert, certPem);
  if (keyPem !== undefined) {
    files.key = join(outDir, "device.key");
    writeSecretFile(files.key, keyPem);
  }
  writeSecretFile(files.appKey, `${key}\n`);
  const id = certificateIdentity(certPem);
  const manifest: DeviceManifest = {
    version: 1,
    deviceId: o.deviceId,
    url: t.edgeUrl,
    things,
    files: { ca: "ca.pem", cert: "device.pem", key: keyPem === undefined ? null : "device.key", appKey: "app-key" },
    keyEncrypted: keyPem !== undefined && o.passphrase !== undefined,
    keyId: record.keyId,
    certificate: { fingerprint256: id.fingerprint256, notAfter: id.notAfter.toISOString() },
  };
  writePublicFile(files.manifest, `${JSON.stringify(manifest, null, 2)}\n`);

  t.audit?.append({
    type: "admin.change",
    actor: o.actor ?? "system",
    target: `device:${o.deviceId}`,
    outcome: "success",
    details: { action: "device.onboard", things, keyId: record.keyId, csr: o.csrPem !== undefined },
  });
  return { deviceId: o.deviceId, keyId: record.keyId, appKey: key, files };
}
