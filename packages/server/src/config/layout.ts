import { resolve } from "node:path";

/** Where everything lives inside a server data directory. All paths are absolute. */
export interface DataPaths {
  dir: string;
  /** CA certificate (PEM): give it to devices; the server trusts device certificates it signed. */
  caCert: string;
  /** CA private key (PEM, mode 0600, optionally passphrase-protected). Needed only to issue certificates. */
  caKey: string;
  /** Server TLS certificate (PEM). */
  serverCert: string;
  /** Server TLS key (PEM, mode 0600). */
  serverKey: string;
  /** TLS session ticket keys (JSON, mode 0600): devices resume their TLS sessions across restarts. */
  ticketKeys: string;
  /** SQLite registry. */
  registry: string;
  /** Hash-chained audit log (JSON lines, mode 0600). */
  audit: string;
  /** Ed25519 key that signs audit checkpoints (PEM, mode 0600); its public key beside it as `.pub`. */
  auditKey: string;
  /** The latest signed audit checkpoint (JSON); copy it off the machine to detect truncation. */
  auditAnchor: string;
  /** Server configuration (JSON). */
  config: string;
  /** Data key (mode 0600) that encrypts secret property values (docs/security.md); made by init or the first start. */
  dataKey: string;
  /** File repository: `store/<device>/<path>` and `staging/` (docs/files.md). */
  files: string;
}

/** The fixed layout of a data directory. */
export function dataPaths(dir: string): DataPaths {
  const d = resolve(dir);
  return {
    dir: d,
    caCert: resolve(d, "ca", "ca.pem"),
    caKey: resolve(d, "ca", "ca.key"),
    serverCert: resolve(d, "tls", "server.pem"),
    serverKey: resolve(d, "tls", "server.key"),
    ticketKeys: resolve(d, "tls", "ticket-keys.json"),
    registry: resolve(d, "registry.db"),
    audit: resolve(d, "audit.log"),
    auditKey: resolve(d, "audit", "signing.key"),
    auditAnchor: resolve(d, "audit", "anchor.json"),
    config: resolve(d, "config.json"),
    dataKey: resolve(d, "data.key"),
    files: resolve(d, "files"),
  };
}
