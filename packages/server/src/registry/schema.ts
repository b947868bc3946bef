import { ErrorCode, OutpostError } from "@outpost/protocol";
import type Database from "better-sqlite3";
import { ACCESS_SCHEMA } from "./access-schema.js";
import { migrateTemplates } from "./templates-schema.js";

/** Version of the registry schema this code writes. Older databases are migrated on open. */
export const SCHEMA_VERSION = 9;

const V1 = `
CREATE TABLE devices (
  id TEXT PRIMARY KEY,
  description TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL,
  disabled INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE app_keys (
  key_id TEXT PRIMARY KEY,
  device_id TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
  secret_hash TEXT NOT NULL,
  label TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL,
  expires_at INTEGER,
  revoked_at INTEGER,
  last_used_at INTEGER
);
CREATE INDEX app_keys_device ON app_keys(device_id);
CREATE TABLE things (
  name TEXT PRIMARY KEY,
  device_id TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
  description TEXT NOT NULL DEFAULT ''
);
CREATE INDEX things_device ON things(device_id);
CREATE TABLE grants (
  principal_kind TEXT NOT NULL,
  principal_id TEXT NOT NULL,
  thing TEXT NOT NULL,
  permission TEXT NOT NULL,
  PRIMARY KEY (principal_kind, principal_id, thing, permission)
);
CREATE TABLE restrictions (
  device_id TEXT NOT NULL,
  thing TEXT NOT NULL,
  permission TEXT NOT NULL,
  PRIMARY KEY (device_id, thing, permission)
);
CREATE TABLE operators (
  name TEXT PRIMARY KEY,
  admin INTEGER NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE TABLE operator_tokens (
  token_id TEXT PRIMARY KEY,
  operator TEXT NOT NULL REFERENCES operators(name) ON DELETE CASCADE,
  secret_hash TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  revoked_at INTEGER
);
CREATE TABLE properties (
  thing TEXT NOT NULL,
  name TEXT NOT NULL,
  value_json TEXT NOT NULL,
  timestamp_ms INTEGER NOT NULL,
  quality TEXT NOT NULL,
  received_at INTEGER NOT NULL,
  PRIMARY KEY (thing, name)
);
CREATE TABLE delivery (
  device_id TEXT PRIMARY KEY,
  seq INTEGER NOT NULL
);
`;

/**
 * Version 2: the certificates issued to each device (so a certificate can be revoked and refused
 * at the TLS handshake) and, per device, when all of its certificates not recorded here were
 * revoked (those issued before version 2 or outside `device add`).
 */
const V2 = `
CREATE TABLE certificates (
  serial TEXT PRIMARY KEY,
  device_id TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
  fingerprint256 TEXT NOT NULL,
  not_after INTEGER NOT NULL,
  issued_at INTEGER NOT NULL,
  revoked_at INTEGER
);
CREATE INDEX certificates_device ON certificates(device_id);
ALTER TABLE devices ADD COLUMN certs_revoked_at INTEGER;
`;

/**
 * Version 3: delivery identity is (device, queue epoch, seq) with the exact runs of applied seqs.
 * A version 2 watermark becomes epoch 0's `base`: the seqs it covered are "unknown" (refused with
 * 409, never acknowledged as duplicates without proof).
 */
const V3 = `
CREATE TABLE delivery_epochs (
  device_id TEXT NOT NULL,
  epoch INTEGER NOT NULL,
  runs_json TEXT NOT NULL,
  base INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (device_id, epoch)
);
`;
const V2_TO_V3 = `
INSERT INTO delivery_epochs (device_id, epoch, runs_json, base, updated_at)
  SELECT device_id, 0, '[]', seq, 0 FROM delivery;
DROP TABLE delivery;
`;

/**
 * Version 4: desired state, the property writes held for a Thing whose device was offline, one per
 * property (the last write wins), applied in `seq` order when the device binds the Thing.
 */
const V4 = `
CREATE TABLE desired_properties (
  thing TEXT NOT NULL,
  name TEXT NOT NULL,
  value_json TEXT NOT NULL,
  set_by TEXT NOT NULL,
  set_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  PRIMARY KEY (thing, name)
);
`;

/**
 * Version 5: file transfers, queued per device and kept across restarts (files/transfers.ts). The
 * record is JSON; the columns are what transfers are looked up by.
 */
const V5 = `
CREATE TABLE file_transfers (
  id TEXT PRIMARY KEY,
  device_id TEXT NOT NULL,
  state TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  record_json TEXT NOT NULL
);
CREATE INDEX file_transfers_device ON file_transfers(device_id, created_at);
`;

/**
 * Version 6: operator passwords (scrypt, auth/passwords.ts) and the tokens issued by a login
 * (browser sessions and script tokens, each with an expiry and an optional scope), kept apart
 * from the long-lived tokens of `operator add` (registry/credentials-sql.ts).
 */
const V6 = `
CREATE TABLE operator_passwords (
  operator TEXT PRIMARY KEY REFERENCES operators(name) ON DELETE CASCADE,
  hash TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE TABLE login_tokens (
  token_id TEXT PRIMARY KEY,
  operator TEXT NOT NULL REFERENCES operators(name) ON DELETE CASCADE,
  secret_hash TEXT NOT NULL,
  kind TEXT NOT NULL,
  authenticator TEXT NOT NULL,
  groups_json TEXT NOT NULL,
  scope_json TEXT,
  source TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  revoked_at INTEGER
);
CREATE INDEX login_tokens_operator ON login_tokens(operator);
`;

/**
 * Version 7: a log of the changes that may end live sessions (a key revoked, removed or given a
 * new expiry; a device disabled, removed or its certificates revoked), written by triggers so
 * that every writer (the server, the CLI in another process) records them. The edge reads only
 * the entries after the last one it saw, when SQLite's data_version says something was committed
 * (registry/revocation-log.ts), instead of re-reading every session's key and device.
 */
const V7 = `
CREATE TABLE IF NOT EXISTS revocations (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  kind TEXT NOT NULL,
  subject TEXT NOT NULL,
  at INTEGER NOT NULL
);
CREATE TRIGGER IF NOT EXISTS revocations_key_revoked AFTER UPDATE OF revoked_at ON app_keys
  WHEN NEW.revoked_at IS NOT NULL AND OLD.revoked_at IS NULL
  BEGIN INSERT INTO revocations (kind, subject, at) VALUES ('key', NEW.key_id, CAST(strftime('%s', 'now') AS INTEGER) * 1000); END;
CREATE TRIGGER IF NOT EXISTS revocations_key_expiry AFTER UPDATE OF expires_at, device_id ON app_keys
  BEGIN INSERT INTO revocations (kind, subject, at) VALUES ('key', NEW.key_id, CAST(strftime('%s', 'now') AS INTEGER) * 1000); END;
CREATE TRIGGER IF NOT EXISTS revocations_key_removed AFTER DELETE ON app_keys
  BEGIN INSERT INTO revocations (kind, subject, at) VALUES ('key', OLD.key_id, CAST(strftime('%s', 'now') AS INTEGER) * 1000); END;
CREATE TRIGGER IF NOT EXISTS revocations_device_disabled AFTER UPDATE OF disabled ON devices
  WHEN NEW.disabled <> 0 AND OLD.disabled = 0
  BEGIN INSERT INTO revocations (kind, subject, at) VALUES ('device', NEW.id, CAST(strftime('%s', 'now') AS INTEGER) * 1000); END;
CREATE TRIGGER IF NOT EXISTS revocations_device_certs AFTER UPDATE OF certs_revoked_at ON devices
  BEGIN INSERT INTO revocations (kind, subject, at) VALUES ('device', NEW.id, CAST(strftime('%s', 'now') AS INTEGER) * 1000); END;
CREATE TRIGGER IF NOT EXISTS revocations_device_removed AFTER DELETE ON devices
  BEGIN INSERT INTO revocations (kind, subject, at) VALUES ('device', OLD.id, CAST(strftime('%s', 'now') AS INTEGER) * 1000); END;
CREATE TRIGGER IF NOT EXISTS revocations_certificate AFTER UPDATE OF revoked_at ON certificates
  WHEN NEW.revoked_at IS NOT NULL AND OLD.revoked_at IS NULL
  BEGIN INSERT INTO revocations (kind, subject, at) VALUES ('device', NEW.device_id, CAST(strftime('%s', 'now') AS INTEGER) * 1000); END;
`;

/** Creates the schema on an empty database; refuses a database written by a newer version. */
export function ensureSchema(db: Database.Database): void {
  db.exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
  const row = db.prepare("SELECT MAX(version) AS v FROM schema_version").get() as { v: number | null };
  const current = row.v ?? 0;
  if (current > SCHEMA_VERSION) {
    throw new OutpostError(
      ErrorCode.InvalidConfig,
      `registry schema version ${current} is newer than this server supports (${SCHEMA_VERSION})`,
    );
  }
  if (current === SCHEMA_VERSION) return;
  db.transaction(() => {
    if (current < 1) db.exec(V1);
    if (current < 2) db.exec(V2);
    if (current < 3) db.exec(V3 + V2_TO_V3);
    if (current < 4) db.exec(V4);
    if (current < 5) db.exec(V5);
    if (current < 6) db.exec(V6);
    if (current < 7) db.exec(V7);
    // Version 8: the access model (registry/access-schema.ts).
    if (current < 8) db.exec(ACCESS_SCHEMA);
    // Version 9: Thing templates (registry/templates-schema.ts).
    if (current < 9) migrateTemplates(db);
    db.prepare("INSERT INTO schema_version (version) VALUES (?)").run(SCHEMA_VERSION);
  })();
}
