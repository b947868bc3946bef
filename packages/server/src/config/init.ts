import { existsSync, mkdirSync, readdirSync, renameSync } from "node:fs";
import { join } from "node:path";
import { ErrorCode, OutpostError } from "@outpost/protocol";
import { FileAuditLog } from "../audit/audit-log.js";
import { createCertificateAuthority, issueServerCertificate } from "../pki/certificates.js";
import { SqliteRegistry } from "../registry/sqlite.js";
import { writePublicFile, writeSecretFile } from "./files.js";
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

/**
 * Creates a server data directory: CA, server TLS certificate, registry with one admin operator,
 * audit log and config.json. Keys are written with mode 0600, directories 0700.
 */
export async function initDataDir(dir: string, options: InitDataDirOptions = {}): Promise<InitDataDirResult> {
  const paths = dataPaths(dir);
  const hosts = options.hosts ?? ["localhost", "127.0.0.1"];
  if (hosts.length === 0) throw new OutpostError(ErrorCode.BadRequest, "at least one host is needed");
  if (existsSync(paths.config) || existsSync(paths.registry)) {
    if (!options.force) {
      throw new OutpostError(
        ErrorCode.Conflict,
        `${paths.dir} is already initialised; use --force to move the old files aside and start over`,
      );
    }
    moveAside(paths);
  }
  mkdirSync(paths.dir, { recursive: true, mode: 0o700 });

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

  const registry = new SqliteRegistry(paths.registry);
  const audit = new FileAuditLog(paths.audit);
  try {
    const adminName = options.adminName ?? "admin";
    const { token } = registry.createOperator(adminName, true);
    audit.append({
      type: "admin.change",
      actor: options.actor ?? "system",
      target: `operator:${adminName}`,
      outcome: "success",
      details: { action: "init", hosts },
    });
    return { adminToken: token, paths, config };
  } finally {
    registry.close();
    await audit.close();
  }
}

function moveAside(paths: DataPaths): void {
  const backup = join(paths.dir, `previous-${new Date().toISOString().replace(/[:.]/g, "-")}`);
  mkdirSync(backup, { mode: 0o700 });
  for (const name of readdirSync(paths.dir)) {
    if (name.startsWith("previous-")) continue;
    renameSync(join(paths.dir, name), join(backup, name));
  }
}
