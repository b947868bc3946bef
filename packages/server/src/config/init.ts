import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmdirSync, rmSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { ErrorCode, OutpostError } from "@outpost/protocol";
import type { FileAuditLog } from "../audit/audit-log.js";
import { openDataAuditLog } from "../audit/open.js";
import { createCertificateAuthority, issueServerCertificate } from "../pki/certificates.js";
import { asyncRegistryOf } from "../registry/async-sqlite.js";
import { SqliteRegistry } from "../registry/sqlite.js";
import { createDataKeyFile } from "../secrets/data-key.js";
import { writePublicFile, writeSecretFile } from "./files.js";
import { assertHosts } from "./hosts.js";
import { type DataPaths, dataPaths } from "./layout.js";
import { defaultServerConfig, type ServerConfigFile } from "./server-config.js";

/** Options for {@link initDataDir}. */
export interface InitDataDirOptions {
  /** DNS names and IP addresses devices use to reach the server (server certificate SAN). Default ["localhost", "127.0.0.1"]. */
  hosts?: string[];
  /** Name of the first operator, an admin. Default "admin". */
  adminName?: string;
  /** Encrypts the CA key; then issuing device certificates needs it. Default: not encrypted. */
  caPassphrase?: string;
  /** Common name of the CA. Default "Outpost CA". */
  caCommonName?: string;
  /**
   * Re-initialise a directory that already holds a server: the old files are moved into
   * `<dir>/previous-<timestamp>/` (nothing is deleted). Default false: refuse with OUTPOST_CONFLICT.
   */
  force?: boolean;
  /** Who runs the initialisation, for the audit record. Default "system". */
  actor?: string;
}

/** Result of {@link initDataDir}. `adminToken` is shown once and stored only as a hash. */
export interface InitDataDirResult {
  adminToken: string;
  paths: DataPaths;
  config: ServerConfigFile;
}

/** Names `init` creates inside a data directory. */
const LAYOUT_NAMES = ["ca", "tls", "registry.db", "audit.log", "audit", "config.json", "data.key"];
const STAGING_PREFIX = ".init-";

/**
 * Creates a server data directory: CA, server TLS certificate, registry with one admin operator,
 * audit log and config.json. Keys are written with mode 0600, directories 0700.
 *
 * All of it is built in a staging directory beside `dir` and moved into place only once complete:
 * a failure (a bad admin name, a full disk) leaves `dir` as it was, and running init again works.
 * Problems with `dir` itself (a file, a path too long, no permission) are OUTPOST_INVALID_CONFIG.
 */
export async function initDataDir(dir: string, options: InitDataDirOptions = {}): Promise<InitDataDirResult> {
  const paths = dataPaths(dir);
  const hosts = options.hosts ?? ["localhost", "127.0.0.1"];
  assertHosts(hosts);
  const adminName = options.adminName ?? "admin";
  const existing = inspectTarget(paths.dir);
  if (existing?.some((name) => LAYOUT_NAMES.includes(name)) && !options.force) {
    throw new OutpostError(
      ErrorCode.Conflict,
      `${paths.dir} is already initialised; use --force to move the old files aside and start over`,
    );
  }
  // Stage beside a new directory (one rename installs it), inside an existing one (whose parent
  // may not be writable, e.g. a service's state directory).
  const staging = fsStep(paths.dir, () => {
    if (existing !== undefined) return mkdtempSync(join(paths.dir, STAGING_PREFIX));
    mkdirSync(dirname(paths.dir), { recursive: true, mode: 0o700 });
    return mkdtempSync(join(dirname(paths.dir), `.${basename(paths.dir).slice(0, 64)}${STAGING_PREFIX}`));
  });
  try {
    const built = await build(dataPaths(staging), hosts, adminName, options);
    fsStep(paths.dir, () => install(staging, paths, existing));
    return { ...built, paths };
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    throw err;
  }
}

async function build(
  paths: DataPaths,
  hosts: string[],
  adminName: string,
  options: InitDataDirOptions,
): Promise<Omit<InitDataDirResult, "paths">> {
  const ca = createCertificateAuthority({
    commonName: options.caCommonName ?? "Outpost CA",
    ...(options.caPassphrase === undefined ? {} : { passphrase: options.caPassphrase }),
  });
  const server = issueServerCertificate(
    { ...ca, ...(options.caPassphrase === undefined ? {} : { passphrase: options.caPassphrase }) },
    { hosts },
  );
  writePublicFile(paths.caCert, ca.certPem);
  writeSecretFile(paths.caKey, ca.keyPem);
  writePublicFile(paths.serverCert, server.certPem);
  writeSecretFile(paths.serverKey, server.keyPem);

  const config = defaultServerConfig(hosts[0]);
  writePublicFile(paths.config, `${JSON.stringify(config, null, 2)}\n`);

  createDataKeyFile(paths.dataKey);
  const registry = asyncRegistryOf(new SqliteRegistry(paths.registry));
  let audit: FileAuditLog | undefined;
  try {
    audit = openDataAuditLog(paths);
    const { token } = await registry.createOperator(adminName, true);
    audit.append({
      type: "admin.change",
      actor: options.actor ?? "system",
      target: `operator:${adminName}`,
      outcome: "success",
      details: { action: "init", hosts },
    });
    return { adminToken: token, config };
  } finally {
    await registry.close();
    await audit?.close();
  }
}

/** The entries of an existing target directory (undefined when it does not exist). */
function inspectTarget(dir: string): string[] | undefined {
  return fsStep(dir, () => {
    if (!existsSync(dir)) return undefined;
    if (!statSync(dir).isDirectory()) {
      throw new OutpostError(ErrorCode.InvalidConfig, `${dir} exists and is not a directory: choose another --data`);
    }
    return readdirSync(dir);
  });
}

/** Moves the staged files into `paths.dir`: one rename when it is new. */
function install(staging: string, paths: DataPaths, existing: string[] | undefined): void {
  if (existing === undefined) {
    renameSync(staging, paths.dir);
    return;
  }
  if (existing.some((name) => LAYOUT_NAMES.includes(name))) moveAside(paths);
  for (const name of readdirSync(staging)) renameSync(join(staging, name), join(paths.dir, name));
  rmdirSync(staging);
}

/** Runs a file-system step, turning Node's errors into OUTPOST_INVALID_CONFIG that names the directory. */
function fsStep<T>(dir: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof OutpostError) throw err;
    throw new OutpostError(ErrorCode.InvalidConfig, `cannot create data directory ${dir}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

function moveAside(paths: DataPaths): void {
  const backup = join(paths.dir, `previous-${new Date().toISOString().replace(/[:.]/g, "-")}`);
  mkdirSync(backup, { mode: 0o700 });
  for (const name of readdirSync(paths.dir)) {
    if (name.startsWith("previous-") || name.startsWith(STAGING_PREFIX)) continue;
    renameSync(join(paths.dir, name), join(backup, name));
  }
}
