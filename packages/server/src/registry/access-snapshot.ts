import type Database from "better-sqlite3";
import type { AccessEntry, AccessPermission, AccessSnapshot, Effect, Level, Subject } from "../access/model.js";

/** A row of access_entries. */
export interface EntryRow {
  id: number;
  effect: Effect;
  subject_kind: Subject["kind"];
  subject_name: string;
  permission: AccessPermission;
  level: Level["level"];
  target: string;
  member: string;
}

export function entryFromRow(r: EntryRow): AccessEntry {
  const target: Level =
    r.level === "collection"
      ? {
          level: "collection",
          collection: r.target === "devices" ? "devices" : r.target === "templates" ? "templates" : "things",
        }
      : r.level === "instances" || r.level === "template"
        ? { level: r.level, template: r.target }
        : r.level === "device"
          ? { level: "device", device: r.target }
          : r.level === "member"
            ? { level: "member", thing: r.target, member: r.member }
            : { level: "thing", thing: r.target };
  return {
    id: r.id,
    effect: r.effect,
    subject: { kind: r.subject_kind, name: r.subject_name } as Subject,
    permission: r.permission,
    target,
    origin: "stored",
  };
}

/** The access model as stored now (the tables of registry/access-schema.ts and the Things, devices, operators and templates it decides on). */
export function readAccessSnapshot(db: Database.Database): AccessSnapshot {
  const groups = new Map<string, Set<string>>();
  for (const g of db.prepare("SELECT name FROM access_groups").pluck().all() as string[]) groups.set(g, new Set());
  for (const r of db.prepare("SELECT * FROM access_group_members").all() as {
    group_name: string;
    member_kind: string;
    member_name: string;
  }[]) {
    groups.get(r.group_name)?.add(`${r.member_kind}:${r.member_name}`);
  }
  const units = new Map<string, { parent: string | null; members: Set<string> }>();
  for (const u of db.prepare("SELECT * FROM org_units").all() as {
    organization: string;
    name: string;
    parent: string | null;
  }[]) {
    units.set(`${u.organization}\0${u.name}`, {
      parent: u.parent === null ? null : `${u.organization}\0${u.parent}`,
      members: new Set(),
    });
  }
  for (const m of db.prepare("SELECT * FROM org_unit_members").all() as {
    organization: string;
    unit: string;
    member_kind: string;
    member_name: string;
  }[]) {
    units.get(`${m.organization}\0${m.unit}`)?.members.add(`${m.member_kind}:${m.member_name}`);
  }
  const visibility = new Map<string, string[]>();
  for (const v of db.prepare("SELECT * FROM visibility").all() as {
    organization: string;
    unit: string;
    entity_kind: string;
    entity_name: string;
  }[]) {
    const key = `${v.entity_kind}:${v.entity_name}`;
    const list = visibility.get(key) ?? [];
    list.push(`${v.organization}\0${v.unit}`);
    visibility.set(key, list);
  }
  const devices = db.prepare("SELECT id, disabled FROM devices").all() as { id: string; disabled: number }[];
  return {
    entries: (db.prepare("SELECT * FROM access_entries ORDER BY id").all() as EntryRow[]).map(entryFromRow),
    groups,
    owners: new Map(
      (db.prepare("SELECT name, device_id FROM things").all() as { name: string; device_id: string }[]).map((t) => [
        t.name,
        t.device_id,
      ]),
    ),
    restrictions: new Set(
      (
        db.prepare("SELECT device_id, thing, permission FROM restrictions").all() as {
          device_id: string;
          thing: string;
          permission: string;
        }[]
      ).map((r) => `${r.device_id}\0${r.thing}\0${r.permission}`),
    ),
    disabledDevices: new Set(devices.filter((d) => d.disabled !== 0).map((d) => d.id)),
    users: new Set(db.prepare("SELECT name FROM operators").pluck().all() as string[]),
    devices: new Set(devices.map((d) => d.id)),
    units,
    visibility,
    organizations: (db.prepare("SELECT COUNT(*) FROM organizations").pluck().get() as number) > 0,
    templates: new Set(db.prepare("SELECT name FROM thing_templates").pluck().all() as string[]),
    templateOf: new Map(
      (
        db.prepare("SELECT name, template FROM things WHERE template IS NOT NULL").all() as {
          name: string;
          template: string;
        }[]
      ).map((t) => [t.name, t.template]),
    ),
  };
}
