import type { Level, Subject } from "../access/model.js";
import type { AppKeyRecord, DeviceRecord, Permission, Principal, ThingRecord } from "./types.js";
import { DEVICE_PERMISSIONS } from "./types.js";

// SQLite rows of the registry's tables and their records.

export interface CertificateRow {
  serial: string;
  device_id: string;
  fingerprint256: string;
  not_after: number;
  issued_at: number;
  revoked_at: number | null;
}

export interface DeviceRow {
  id: string;
  description: string;
  created_at: number;
  disabled: number;
}
export interface KeyRow {
  key_id: string;
  device_id: string;
  label: string;
  created_at: number;
  expires_at: number | null;
  revoked_at: number | null;
  last_used_at: number | null;
}
export interface ThingRow {
  name: string;
  device_id: string;
  description: string;
  template?: string | null;
}
export interface OperatorRow {
  name: string;
  admin: number;
  created_at: number;
}

export function deviceFromRow(r: DeviceRow): DeviceRecord {
  return { id: r.id, description: r.description, createdAt: r.created_at, disabled: r.disabled !== 0 };
}

export function keyFromRow(r: KeyRow): AppKeyRecord {
  return {
    keyId: r.key_id,
    deviceId: r.device_id,
    label: r.label,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    revokedAt: r.revoked_at,
    lastUsedAt: r.last_used_at,
  };
}

export function thingFromRow(r: ThingRow): ThingRecord {
  return {
    name: r.name,
    deviceId: r.device_id,
    description: r.description,
    ...(typeof r.template === "string" ? { template: r.template } : {}),
  };
}

/** A permission granted to a principal on a Thing ("*" for every Thing). */
export interface GrantRecord {
  principal: Principal;
  thing: string;
  permission: Permission;
}

export function grantSubject(p: Principal): Subject {
  return p.kind === "device" ? { kind: "device", name: p.id } : { kind: "user", name: p.id };
}

export function grantLevel(thing: string, permission: Permission): Level {
  const onDevice = DEVICE_PERMISSIONS.includes(permission);
  if (thing === "*") return { level: "collection", collection: onDevice ? "devices" : "things" };
  return onDevice ? { level: "device", device: thing } : { level: "thing", thing };
}
