import { ErrorCode, OutpostError } from "@outpost/protocol";
import type Database from "better-sqlite3";
import type { DesiredProperty, PropertyState } from "./types.js";

const p = (sql: string): string => sql;

const SQL = {
  insertDevice: p("INSERT OR IGNORE INTO devices (id, description, created_at) VALUES (?, ?, ?)"),
  getDevice: p("SELECT * FROM devices WHERE id = ?"),
  listDevices: p("SELECT * FROM devices ORDER BY id"),
  countDevices: p("SELECT COUNT(*) AS n FROM devices"),
  setDeviceDisabled: p("UPDATE devices SET disabled = ? WHERE id = ?"),

  insertKey: p(
    "INSERT INTO app_keys (key_id, device_id, secret_hash, label, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
  ),
  getKey: p(
    "SELECT key_id, device_id, label, created_at, expires_at, revoked_at, last_used_at FROM app_keys WHERE key_id = ?",
  ),
  getKeyWithSecret: p(
    `SELECT k.*, d.disabled AS disabled FROM app_keys k JOIN devices d ON d.id = k.device_id WHERE k.key_id = ?`,
  ),
  listKeys: p(
    `SELECT key_id, device_id, label, created_at, expires_at, revoked_at, last_used_at
       FROM app_keys WHERE device_id = ? ORDER BY created_at, key_id`,
  ),
  touchKey: p("UPDATE app_keys SET last_used_at = ? WHERE key_id = ?"),
  revokeKey: p("UPDATE app_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL"),

  insertCertificate: p(
    "INSERT OR IGNORE INTO certificates (serial, device_id, fingerprint256, not_after, issued_at) VALUES (?, ?, ?, ?, ?)",
  ),
  revokeCertificates: p("UPDATE certificates SET revoked_at = ? WHERE device_id = ? AND revoked_at IS NULL"),
  markCertsRevoked: p("UPDATE devices SET certs_revoked_at = ? WHERE id = ?"),
  listCertificates: p("SELECT * FROM certificates WHERE device_id = ? ORDER BY issued_at, serial"),
  getCertificate: p("SELECT device_id, revoked_at FROM certificates WHERE serial = ?"),

  upsertThing: p(
    `INSERT INTO things (name, device_id, description) VALUES (?, ?, ?)
       ON CONFLICT(name) DO UPDATE SET device_id = excluded.device_id, description = excluded.description`,
  ),
  getThing: p("SELECT * FROM things WHERE name = ?"),
  listThings: p("SELECT * FROM things ORDER BY name"),
  listThingsOf: p("SELECT * FROM things WHERE device_id = ? ORDER BY name"),

  insertGrant: p("INSERT OR IGNORE INTO grants (principal_kind, principal_id, thing, permission) VALUES (?, ?, ?, ?)"),
  deleteGrant: p("DELETE FROM grants WHERE principal_kind = ? AND principal_id = ? AND thing = ? AND permission = ?"),
  getGrant: p(
    `SELECT 1 FROM grants WHERE principal_kind = ? AND principal_id = ? AND thing IN (?, '*') AND permission = ?`,
  ),
  listGrants: p("SELECT * FROM grants ORDER BY principal_kind, principal_id, thing, permission"),
  listGrantsOf: p("SELECT * FROM grants WHERE principal_kind = ? AND principal_id = ? ORDER BY thing, permission"),

  insertRestriction: p("INSERT OR IGNORE INTO restrictions (device_id, thing, permission) VALUES (?, ?, ?)"),
  deleteRestriction: p("DELETE FROM restrictions WHERE device_id = ? AND thing = ? AND permission = ?"),
  deleteRestrictionsForThing: p("DELETE FROM restrictions WHERE device_id = ? AND thing = ?"),
  getRestriction: p("SELECT 1 FROM restrictions WHERE device_id = ? AND thing = ? AND permission = ?"),

  insertOperator: p("INSERT OR IGNORE INTO operators (name, admin, created_at) VALUES (?, ?, ?)"),
  getOperator: p("SELECT * FROM operators WHERE name = ?"),
  listOperators: p("SELECT * FROM operators ORDER BY name"),
  insertOperatorToken: p(
    "INSERT INTO operator_tokens (token_id, operator, secret_hash, created_at) VALUES (?, ?, ?, ?)",
  ),
  getOperatorToken: p(
    `SELECT o.*, t.secret_hash AS secret_hash, t.revoked_at AS revoked_at
       FROM operator_tokens t JOIN operators o ON o.name = t.operator WHERE t.token_id = ?`,
  ),
  revokeOperatorToken: p("UPDATE operator_tokens SET revoked_at = ? WHERE token_id = ? AND revoked_at IS NULL"),

  upsertProperty: p(
    `INSERT INTO properties (thing, name, value_json, timestamp_ms, quality, received_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT(thing, name) DO UPDATE SET value_json = excluded.value_json, timestamp_ms = excluded.timestamp_ms,
       quality = excluded.quality, received_at = excluded.received_at`,
  ),
  getProperties: p("SELECT * FROM properties WHERE thing = ? ORDER BY name"),
  countProperties: p("SELECT COUNT(*) AS n FROM properties WHERE thing = ?"),
  hasProperty: p("SELECT 1 FROM properties WHERE thing = ? AND name = ?"),

  upsertDesired: p(
    `INSERT INTO desired_properties (thing, name, value_json, set_by, set_at, expires_at, seq)
       VALUES (?, ?, ?, ?, ?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM desired_properties))
       ON CONFLICT(thing, name) DO UPDATE SET value_json = excluded.value_json, set_by = excluded.set_by,
       set_at = excluded.set_at, expires_at = excluded.expires_at, seq = excluded.seq`,
  ),
  listDesiredOf: p("SELECT * FROM desired_properties WHERE thing = ? ORDER BY seq"),
  listDesired: p("SELECT * FROM desired_properties ORDER BY seq"),
  getDesired: p("SELECT * FROM desired_properties WHERE thing = ? AND name = ?"),
  deleteDesired: p("DELETE FROM desired_properties WHERE thing = ? AND name = ?"),
  deleteDesiredSeq: p("DELETE FROM desired_properties WHERE thing = ? AND name = ? AND seq = ?"),

  getDelivery: p("SELECT runs_json, base FROM delivery_epochs WHERE device_id = ? AND epoch = ?"),
  updateDelivery: p(
    "UPDATE delivery_epochs SET runs_json = ?, base = ?, updated_at = ? WHERE device_id = ? AND epoch = ?",
  ),
  upsertDelivery: p(
    `INSERT INTO delivery_epochs (device_id, epoch, runs_json, base, updated_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT(device_id, epoch) DO UPDATE SET runs_json = excluded.runs_json, base = excluded.base,
       updated_at = excluded.updated_at`,
  ),
  pruneDelivery: p(
    `DELETE FROM delivery_epochs WHERE device_id = ? AND epoch NOT IN
       (SELECT epoch FROM delivery_epochs WHERE device_id = ? ORDER BY updated_at DESC, rowid DESC LIMIT ?)`,
  ),
};

/** Every statement the SQLite registry runs, prepared once when the database is opened. */
export type Statements = { readonly [K in keyof typeof SQL]: Database.Statement };

export function prepareStatements(db: Database.Database): Statements {
  const out: Partial<Record<keyof typeof SQL, Database.Statement>> = {};
  for (const key of Object.keys(SQL) as (keyof typeof SQL)[]) out[key] = db.prepare(SQL[key]);
  return out as Statements;
}

export interface PropertyRow {
  thing: string;
  name: string;
  value_json: string;
  timestamp_ms: number;
  quality: PropertyState["quality"];
  received_at: number;
}

/** JSON text of a property value; bigints become numbers when safe, strings otherwise. */
export function propertyToJson(value: unknown): string {
  if (value === null || typeof value === "number" || typeof value === "string" || typeof value === "boolean") {
    return JSON.stringify(value);
  }
  try {
    const json = JSON.stringify(value, (_k, v) =>
      typeof v === "bigint"
        ? v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)
          ? Number(v)
          : v.toString()
        : v,
    );
    return json ?? "null";
  } catch (err) {
    throw new OutpostError(ErrorCode.BadRequest, `property value cannot be stored as JSON: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

export interface DesiredRow {
  thing: string;
  name: string;
  value_json: string;
  set_by: string;
  set_at: number;
  expires_at: number;
  seq: number;
}

export function desiredFromRow(r: DesiredRow): DesiredProperty {
  return {
    thing: r.thing,
    name: r.name,
    value: JSON.parse(r.value_json) as unknown,
    setBy: r.set_by,
    setAt: r.set_at,
    expiresAt: r.expires_at,
    seq: r.seq,
  };
}

export function propertyFromRow(r: PropertyRow): PropertyState {
  return {
    thing: r.thing,
    name: r.name,
    value: JSON.parse(r.value_json) as unknown,
    timestampMs: r.timestamp_ms,
    quality: r.quality,
    receivedAt: r.received_at,
  };
}
