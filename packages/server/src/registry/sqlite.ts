import { ErrorCode, OutpostError } from "@outpost/protocol";
import Database from "better-sqlite3";
import {
  type GeneratedToken,
  generateAppKey,
  generateOperatorToken,
  parseAppKey,
  parseOperatorToken,
  verifySecret,
} from "../auth/app-keys.js";
import {
  assertDeviceId,
  assertOperatorName,
  assertPermission,
  assertPrincipal,
  assertThingName,
  isPermission,
} from "./names.js";
import { KeyTouches } from "./key-touches.js";
import { CertificateStatusCache } from "./certificate-status.js";
import { configureConnection, type StorageSettings, storageSettings } from "./connection.js";
import { type DeliveryRecord, emptyRecord } from "./delivery.js";
import { SqliteAccess } from "./access-sql.js";
import {
  type CertificateRow,
  type DeviceRow,
  type KeyRow,
  type ThingRow,
  type OperatorRow,
  deviceFromRow,
  keyFromRow,
  thingFromRow,
  grantSubject,
  grantLevel,
  type GrantRecord,
} from "./rows.js";
import { SqliteCredentials } from "./credentials-sql.js";
import { type DataKeyLoader, SecretValues } from "./secret-values.js";
import { SqliteTemplates } from "./templates-sql.js";
import type { ThingTemplate } from "../templates/model.js";
import { SqliteModelWrites } from "./model-sql.js";
import { SqliteRevocationLog } from "./revocation-log.js";
import { ensureSchema } from "./schema.js";
import { TransactionControl } from "./transaction-control.js";
import { TransferStatements } from "./transfers-sql.js";
import {
  type DesiredRow,
  desiredFromRow,
  type PropertyRow,
  prepareStatements,
  propertyFromRow,
  propertyToJson,
  type Statements,
} from "./statements.js";
import {
  type AppKeyRecord,
  type CertificateRecord,
  type CertificateStatus,
  type CreateKeyOptions,
  type DesiredProperty,
  DEVICE_PERMISSIONS,
  type DeviceRecord,
  type FileTransferRecord,
  type KeyCheck,
  MAX_DELIVERY_EPOCHS,
  type OperatorCheck,
  type OperatorRecord,
  type Permission,
  type Principal,
  type PropertyState,
  type SyncRegistry,
  type ThingRecord,
} from "./types.js";

export type { GrantRecord } from "./rows.js";

/** Options for opening a {@link SqliteRegistry}. */
export interface SqliteRegistryOptions {
  /** Milliseconds a write waits for another process holding the database (the CLI, the server). Default 5000. */
  busyTimeoutMs?: number;
  /** Clock used for createdAt/revokedAt/lastUsedAt. Default `Date.now`. */
  now?: () => number;
  /**
   * The data key that encrypts secret property values (docs/security.md), or a loader called on
   * first need. Without it, storing or reading a secret value is OUTPOST_INVALID_CONFIG.
   */
  dataKey?: Buffer | DataKeyLoader;
}

/**
 * The embedded registry on SQLite (better-sqlite3, WAL mode). Secrets are stored as key id plus
 * SHA-256 of the secret only; property values as JSON text. Open with a file path or ":memory:".
 */
export class SqliteRegistry implements SyncRegistry {
  readonly #db: Database.Database;
  readonly #s: Statements;
  #transfers!: TransferStatements;
  /** Operator passwords and login tokens, on the same database. */
  readonly credentials: SqliteCredentials;
  /** The changes that may end live sessions, for the edge to push instead of polling. */
  readonly revocations: SqliteRevocationLog;
  /** The access model (groups, entries, organizations, visibility) and its decisions. */
  readonly access: SqliteAccess;
  /** Thing templates, and Things created from them or removed. */
  readonly templates: SqliteTemplates;
  /** The encrypted values of secret properties and the data key. */
  readonly secrets: SecretValues;
  /** The writes of a model import (model/import.ts). */
  readonly modelWrites: SqliteModelWrites;
  /** Explicit transactions for work that spans awaits (registry/async-sqlite.ts). */
  readonly control: TransactionControl;
  readonly #now: () => number;
  readonly #certStatus: CertificateStatusCache;
  #setAll: ((states: readonly PropertyState[]) => void) | undefined;
  readonly #touches = new KeyTouches((times) =>
    this.#db.transaction(() => times.forEach((at, keyId) => this.#s.touchKey.run(at, keyId)))(),
  );

  constructor(path: string, options: SqliteRegistryOptions = {}) {
    this.#now = options.now ?? Date.now;
    try {
      this.#db = new Database(path);
    } catch (err) {
      const message = `cannot open registry database ${path}: ${(err as Error).message}`;
      throw new OutpostError(ErrorCode.InvalidConfig, message, { cause: err });
    }
    try {
      configureConnection(this.#db, options.busyTimeoutMs ?? 5000);
      ensureSchema(this.#db);
      this.#s = prepareStatements(this.#db);
      this.#certStatus = new CertificateStatusCache(this.#db, (d, serial) => this.#lookUpCertificate(d, serial));
      this.#transfers = new TransferStatements(this.#db);
      this.revocations = new SqliteRevocationLog(this.#db, () => this.#certStatus.clear());
      this.access = new SqliteAccess(this.#db, this.#now);
      const access = this.access;
      const key = options.dataKey;
      this.secrets = new SecretValues(this.#db, Buffer.isBuffer(key) ? () => key : key);
      this.templates = new SqliteTemplates(this.#db, {
        now: this.#now,
        secrets: this.secrets,
        changed: () => access.changed(),
        setProperties: (states) => this.setProperties(states),
      });
      this.modelWrites = new SqliteModelWrites(this.#db, access, this.#now);
      this.credentials = new SqliteCredentials(this.#db, this.#now, {
        enrol: (name) => access.enrol({ kind: "user", name }),
        isAdministrator: (id, groups) => access.isAdministrator({ kind: "operator", id, groups }),
      });
      this.control = new TransactionControl(this.#db, () => {
        this.#certStatus.clear();
        access.changed();
      });
    } catch (err) {
      this.#db.close();
      if (err instanceof OutpostError) throw err;
      throw new OutpostError(
        ErrorCode.InvalidConfig,
        `cannot use registry database ${path}: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
  }

  /** How this connection stores commits (for diagnostics and tests). */
  storageSettings(): StorageSettings {
    return storageSettings(this.#db);
  }

  createDevice(id: string, description = ""): DeviceRecord {
    assertDeviceId(id);
    this.#certStatus.clear();
    const record: DeviceRecord = { id, description: String(description), createdAt: this.#now(), disabled: false };
    this.#db.transaction(() => {
      const r = this.#s.insertDevice.run(record.id, record.description, record.createdAt);
      if (r.changes === 0) throw new OutpostError(ErrorCode.Conflict, `device ${id} already exists`);
      this.access.enrol({ kind: "device", name: id });
    })();
    return record;
  }

  getDevice(id: string): DeviceRecord | undefined {
    const row = this.#s.getDevice.get(id) as DeviceRow | undefined;
    return row && deviceFromRow(row);
  }

  listDevices(): DeviceRecord[] {
    return (this.#s.listDevices.all() as DeviceRow[]).map(deviceFromRow);
  }

  countDevices(): number {
    return (this.#s.countDevices.get() as { n: number }).n;
  }

  setDeviceDisabled(id: string, disabled: boolean): void {
    this.#certStatus.clear();
    if (this.#s.setDeviceDisabled.run(disabled ? 1 : 0, id).changes === 0) throw notFound("device", id);
    if (disabled) this.revocations.changed();
    this.access.changed();
  }

  recordCertificate(deviceId: string, cert: { serialNumber: string; fingerprint256: string; notAfter: Date }): void {
    this.#requireDevice(deviceId);
    this.#certStatus.clear();
    const serial = String(cert.serialNumber).toUpperCase();
    const r = this.#s.insertCertificate.run(
      serial,
      deviceId,
      cert.fingerprint256,
      cert.notAfter.getTime(),
      this.#now(),
    );
    if (r.changes === 0) throw new OutpostError(ErrorCode.Conflict, `certificate serial ${serial} is already recorded`);
  }

  revokeCertificates(deviceId: string): number {
    this.#requireDevice(deviceId);
    this.#certStatus.clear();
    const revoked = this.#db.transaction(() => {
      const now = this.#now();
      this.#s.markCertsRevoked.run(now, deviceId);
      return this.#s.revokeCertificates.run(now, deviceId).changes;
    })();
    this.revocations.changed();
    return revoked;
  }

  listCertificates(deviceId: string): CertificateRecord[] {
    return (this.#s.listCertificates.all(deviceId) as CertificateRow[]).map((r) => ({
      serialNumber: r.serial,
      deviceId: r.device_id,
      fingerprint256: r.fingerprint256,
      notAfter: r.not_after,
      issuedAt: r.issued_at,
      revokedAt: r.revoked_at,
    }));
  }

  certificateStatus(deviceId: string, serialNumber: string): CertificateStatus {
    return this.#certStatus.get(deviceId, serialNumber);
  }

  #lookUpCertificate(deviceId: string, serial: string): CertificateStatus {
    const device = this.#s.getDevice.get(deviceId) as (DeviceRow & { certs_revoked_at: number | null }) | undefined;
    if (!device) return "unknown-device";
    if (device.disabled) return "device-disabled";
    const cert = this.#s.getCertificate.get(serial) as { device_id: string; revoked_at: number | null } | undefined;
    if (cert) return cert.device_id === deviceId && cert.revoked_at === null ? "ok" : "revoked";
    return device.certs_revoked_at === null ? "ok" : "revoked";
  }

  createKey(deviceId: string, options: CreateKeyOptions = {}): { key: string; record: AppKeyRecord } {
    this.#requireDevice(deviceId);
    const ttl = options.ttlMs;
    if (ttl !== undefined && (!Number.isSafeInteger(ttl) || ttl <= 0)) {
      throw new OutpostError(ErrorCode.BadRequest, `key ttlMs must be a positive integer, got ${String(ttl)}`);
    }
    const g = generateAppKey();
    const createdAt = this.#now();
    const record: AppKeyRecord = {
      keyId: g.id,
      deviceId,
      label: options.label ?? "",
      createdAt,
      expiresAt: ttl === undefined ? null : createdAt + ttl,
      revokedAt: null,
      lastUsedAt: null,
    };
    this.#s.insertKey.run(record.keyId, deviceId, g.secretHash, record.label, createdAt, record.expiresAt);
    return { key: g.token, record };
  }

  checkKey(presented: string, now: number = this.#now()): KeyCheck {
    const parsed = parseAppKey(presented);
    if (!parsed.ok) return { ok: false, reason: "malformed" };
    const keyId = parsed.id;
    const row = this.#s.getKeyWithSecret.get(keyId) as (KeyRow & { secret_hash: string; disabled: number }) | undefined;
    // Compare even when the id is unknown, so the answer takes the same time either way.
    const matches = verifySecret(parsed.secret, row?.secret_hash);
    if (!row) return { ok: false, reason: "unknown", keyId };
    const deviceId = row.device_id;
    if (!matches) return { ok: false, reason: "mismatch", keyId, deviceId };
    if (row.revoked_at !== null) return { ok: false, reason: "revoked", keyId, deviceId };
    if (row.expires_at !== null && row.expires_at <= now) return { ok: false, reason: "expired", keyId, deviceId };
    if (row.disabled) return { ok: false, reason: "device-disabled", keyId, deviceId };
    this.#touches.touch(keyId, now);
    return { ok: true, key: { ...keyFromRow(row), lastUsedAt: now } };
  }

  revokeKey(keyId: string): boolean {
    const revoked = this.#s.revokeKey.run(this.#now(), keyId).changes > 0;
    if (revoked) this.revocations.changed();
    return revoked;
  }

  /** The key record with this id, or undefined. */
  getKey(keyId: string): AppKeyRecord | undefined {
    const row = this.#s.getKey.get(keyId) as KeyRow | undefined;
    return row && this.#keyFromRow(row);
  }

  listKeys(deviceId: string): AppKeyRecord[] {
    return (this.#s.listKeys.all(deviceId) as KeyRow[]).map((r) => this.#keyFromRow(r));
  }

  assignThing(name: string, deviceId: string, description?: string): ThingRecord {
    assertThingName(name);
    this.#requireDevice(deviceId);
    return this.#db.transaction((): ThingRecord => {
      const existing = this.getThing(name);
      const desc = description ?? existing?.description ?? "";
      if (existing && existing.deviceId !== deviceId) this.#s.deleteRestrictionsForThing.run(existing.deviceId, name);
      this.#s.upsertThing.run(name, deviceId, desc);
      this.access.changed();
      return { name, deviceId, description: desc };
    })();
  }

  getThing(name: string): ThingRecord | undefined {
    const row = this.#s.getThing.get(name) as ThingRow | undefined;
    return row && thingFromRow(row);
  }

  thingTemplate(thing: string): ThingTemplate | undefined {
    const name = this.getThing(thing)?.template;
    return name === undefined ? undefined : this.templates.get(name);
  }

  listThings(deviceId?: string): ThingRecord[] {
    const rows = deviceId === undefined ? this.#s.listThings.all() : this.#s.listThingsOf.all(deviceId);
    return (rows as ThingRow[]).map(thingFromRow);
  }

  grant(principal: Principal, thing: string, permission: Permission): void {
    this.#checkGrantArgs(principal, thing, permission);
    const subject = grantSubject(principal);
    const level = grantLevel(thing, permission);
    this.#db.transaction(() => {
      this.access.addEntry("allow", subject, permission, level);
      // A grant of property.read has always let its holder follow the Thing's events too.
      if (permission === "property.read") this.access.addEntry("allow", subject, "event.subscribe", level);
    })();
  }

  revoke(principal: Principal, thing: string, permission: Permission): void {
    assertPrincipal(principal);
    assertPermission(permission);
    const subject = grantSubject(principal);
    const level = grantLevel(thing, permission);
    for (const p of permission === "property.read" ? (["property.read", "event.subscribe"] as const) : [permission]) {
      const e = this.access.findEntry("allow", subject, p, level);
      if (e) this.access.removeEntry(e.id);
    }
  }

  /** Allow entries of users and devices on Things and devices (not members), as grants ("*": a collection). */
  listGrants(principal?: Principal): GrantRecord[] {
    const entries = this.access.listEntries(principal && grantSubject(principal));
    const out: GrantRecord[] = [];
    for (const e of entries) {
      // event.subscribe comes with a grant of property.read; entries show it (access.listEntries).
      if (e.effect !== "allow" || e.subject.kind === "group" || !isPermission(e.permission)) continue;
      if (e.permission === "event.subscribe") continue;
      const t = e.target;
      const thing =
        t.level === "collection" ? "*" : t.level === "thing" ? t.thing : t.level === "device" ? t.device : undefined;
      if (thing === undefined) continue;
      out.push({
        principal: { kind: e.subject.kind === "user" ? "operator" : "device", id: e.subject.name },
        thing,
        permission: e.permission,
      });
    }
    return out;
  }

  can(principal: Principal, thing: string, permission: Permission, member?: string): boolean {
    if (!isPermission(permission) || typeof thing !== "string" || thing === "*") return false;
    if (principal?.kind !== "operator" && principal?.kind !== "device") return false;
    return this.access.allows({ principal, permission, target: thing, ...(member !== undefined ? { member } : {}) });
  }

  visible(principal: Principal, kind: "thing" | "device", name: string): boolean {
    if (principal?.kind !== "operator" && principal?.kind !== "device") return false;
    return this.access.visible(principal, kind, name);
  }

  isAdministrator(principal: Principal): boolean {
    return this.access.isAdministrator(principal);
  }

  restrict(deviceId: string, thing: string, permission: Permission): void {
    assertPermission(permission);
    const t = this.getThing(thing);
    if (!t || t.deviceId !== deviceId) {
      throw new OutpostError(ErrorCode.NotFound, `Thing ${thing} is not assigned to device ${deviceId}`);
    }
    this.#s.insertRestriction.run(deviceId, thing, permission);
    this.access.changed();
  }

  /** Gives a device back its default permission on one of its own Things. */
  unrestrict(deviceId: string, thing: string, permission: Permission): void {
    this.#s.deleteRestriction.run(deviceId, thing, permission);
    this.access.changed();
  }

  createOperator(name: string, admin: boolean): { token: string; record: OperatorRecord } {
    assertOperatorName(name);
    const record: OperatorRecord = { name, admin: admin === true, createdAt: this.#now() };
    return this.#db.transaction(() => {
      if (this.#s.insertOperator.run(name, record.admin ? 1 : 0, record.createdAt).changes === 0) {
        throw new OutpostError(ErrorCode.Conflict, `operator ${name} already exists`);
      }
      this.access.enrol({ kind: "user", name }, record.admin);
      return { token: this.#issueOperatorToken(name).token, record };
    })();
  }

  /** Issues another bearer token for an existing operator (for rotation). */
  createOperatorToken(name: string): { token: string; tokenId: string } {
    if (!this.getOperator(name)) throw notFound("operator", name);
    const g = this.#issueOperatorToken(name);
    return { token: g.token, tokenId: g.id };
  }

  /** Revokes one operator token by its id; false when no such live token exists. */
  revokeOperatorToken(tokenId: string): boolean {
    return this.#s.revokeOperatorToken.run(this.#now(), tokenId).changes > 0;
  }

  checkOperator(token: string): OperatorCheck {
    const parsed = parseOperatorToken(token);
    if (!parsed.ok) return { ok: false, reason: "malformed" };
    const row = this.#s.getOperatorToken.get(parsed.id) as
      (OperatorRow & { secret_hash: string; revoked_at: number | null }) | undefined;
    const matches = verifySecret(parsed.secret, row?.secret_hash);
    if (!row) return { ok: false, reason: "unknown" };
    if (!matches) return { ok: false, reason: "mismatch" };
    if (row.revoked_at !== null) return { ok: false, reason: "revoked" };
    return { ok: true, operator: this.#operator(row) };
  }

  /** The operator with this name, or undefined. */
  getOperator(name: string): OperatorRecord | undefined {
    const row = this.#s.getOperator.get(name) as OperatorRow | undefined;
    return row && this.#operator(row);
  }

  listOperators(): OperatorRecord[] {
    return (this.#s.listOperators.all() as OperatorRow[]).map((r) => this.#operator(r));
  }

  putTransfer(record: FileTransferRecord): void {
    this.#transfers.putTransfer(record);
  }

  getTransfer(id: string): FileTransferRecord | undefined {
    return this.#transfers.getTransfer(id);
  }

  listTransfers(filter?: { deviceId?: string; active?: boolean; limit?: number }): FileTransferRecord[] {
    return this.#transfers.listTransfers(filter);
  }

  transaction<T>(work: () => T): T {
    return this.#db.transaction(work)();
  }

  setProperty(state: PropertyState): void {
    const json = this.secrets.toStored("property", state.thing, state.name, propertyToJson(state.value));
    this.#s.upsertProperty.run(state.thing, state.name, json, state.timestampMs, state.quality, state.receivedAt);
  }

  setProperties(states: readonly PropertyState[]): void {
    if (states.length === 1) return this.setProperty(states[0]!);
    this.#setAll ??= this.#db.transaction((all: readonly PropertyState[]) => {
      for (const state of all) this.setProperty(state);
    });
    this.#setAll(states);
  }

  getProperties(thing: string): PropertyState[] {
    return (this.#s.getProperties.all(thing) as PropertyRow[]).map((r) =>
      propertyFromRow({ ...r, value_json: this.secrets.fromStored("property", thing, r.name, r.value_json) }),
    );
  }

  countProperties(thing: string): number {
    return (this.#s.countProperties.get(thing) as { n: number }).n;
  }

  hasProperty(thing: string, name: string): boolean {
    return this.#s.hasProperty.get(thing, name) !== undefined;
  }

  setDesired(desired: Omit<DesiredProperty, "seq">): DesiredProperty {
    const json = this.secrets.toStored("desired", desired.thing, desired.name, propertyToJson(desired.value));
    return this.#db.transaction(() => {
      this.#s.upsertDesired.run(desired.thing, desired.name, json, desired.setBy, desired.setAt, desired.expiresAt);
      return this.#desired(this.#s.getDesired.get(desired.thing, desired.name) as DesiredRow);
    })();
  }

  listDesired(thing?: string): DesiredProperty[] {
    const rows = (thing === undefined ? this.#s.listDesired.all() : this.#s.listDesiredOf.all(thing)) as DesiredRow[];
    return rows.map((r) => this.#desired(r));
  }

  #desired(r: DesiredRow): DesiredProperty {
    return desiredFromRow({ ...r, value_json: this.secrets.fromStored("desired", r.thing, r.name, r.value_json) });
  }

  deleteDesired(thing: string, name: string, seq?: number): boolean {
    const r =
      seq === undefined ? this.#s.deleteDesired.run(thing, name) : this.#s.deleteDesiredSeq.run(thing, name, seq);
    return r.changes > 0;
  }

  getDelivery(deviceId: string, epoch: number): DeliveryRecord {
    const row = this.#s.getDelivery.get(deviceId, epoch) as { runs_json: string; base: number } | undefined;
    if (!row) return emptyRecord();
    return { runs: JSON.parse(row.runs_json) as [number, number][], base: row.base };
  }

  setDelivery(deviceId: string, epoch: number, record: DeliveryRecord): void {
    const seqs = [epoch, record.base, ...record.runs.flat()];
    const bad = seqs.find((n) => !Number.isSafeInteger(n) || n < 0);
    if (bad !== undefined) {
      throw new OutpostError(
        ErrorCode.BadRequest,
        `delivery epoch and seqs must be non-negative integers, got ${String(bad)}`,
      );
    }
    const runs = JSON.stringify(record.runs);
    const now = this.#now();
    // Each batch rewrites its epoch's row; only a new row can take the device past the kept epochs.
    if (this.#s.updateDelivery.run(runs, record.base, now, deviceId, epoch).changes > 0) return;
    this.#s.upsertDelivery.run(deviceId, epoch, runs, record.base, now);
    this.#s.pruneDelivery.run(deviceId, deviceId, MAX_DELIVERY_EPOCHS);
  }

  close(): void {
    if (!this.#db.open) return;
    this.#touches.flush();
    this.control.wal?.close();
    this.#db.close();
  }

  #keyFromRow(row: KeyRow): AppKeyRecord {
    return { ...keyFromRow(row), lastUsedAt: this.#touches.lastUsed(row.key_id, row.last_used_at) };
  }

  #issueOperatorToken(name: string): GeneratedToken {
    const g = generateOperatorToken();
    this.#s.insertOperatorToken.run(g.id, name, g.secretHash, this.#now());
    return g;
  }

  // The admin flag of an operator is its membership of Administrators (registry/access-schema.ts).
  #operator(r: OperatorRow): OperatorRecord {
    return {
      name: r.name,
      admin: this.access.isAdministrator({ kind: "operator", id: r.name }),
      createdAt: r.created_at,
    };
  }

  #requireDevice(id: string): void {
    if (!this.#s.getDevice.get(id)) throw notFound("device", id);
  }

  #checkGrantArgs(principal: Principal, thing: string, permission: Permission): void {
    assertPrincipal(principal);
    assertPermission(permission);
    if (DEVICE_PERMISSIONS.includes(permission)) {
      if (principal.kind !== "operator")
        throw new OutpostError(ErrorCode.BadRequest, `${permission} is granted to operators only`);
      if (thing !== "*" && !this.getDevice(thing)) throw notFound("device", thing);
    } else if (thing !== "*") {
      assertThingName(thing);
      if (!this.getThing(thing)) throw notFound("Thing", thing);
    }
    const exists =
      principal.kind === "device" ? this.#s.getDevice.get(principal.id) : this.#s.getOperator.get(principal.id);
    if (!exists) throw notFound(principal.kind, principal.id);
  }
}

function notFound(kind: string, id: string): OutpostError {
  return new OutpostError(ErrorCode.NotFound, `${kind} ${id} not found`);
}
