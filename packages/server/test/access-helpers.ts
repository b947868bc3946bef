import type { AccessEntry, AccessPermission, AccessSnapshot, Level, Subject } from "../src/access/model.js";

/** A small in-memory model for engine tests. */
export interface TestModel {
  users?: string[];
  devices?: string[];
  /** Thing name to owning device. */
  things?: Record<string, string>;
  groups?: Record<string, string[]>;
  entries?: Omit<AccessEntry, "id" | "origin">[];
  disabled?: string[];
  /** `device\0thing\0permission` */
  restrictions?: string[];
  /** Units as `org/unit` to parent (`org/unit` or null) and members (subject keys). */
  units?: Record<string, { parent: string | null; members: string[] }>;
  /** Entity key (`thing:x`, `device:y`, `template:z`) to units (`org/unit`). */
  visibility?: Record<string, string[]>;
  /** Template name to the Things made from it. */
  templates?: Record<string, string[]>;
}

const unitKey = (u: string) => u.replace("/", "\0");

export function snapshot(m: TestModel): AccessSnapshot {
  return {
    entries: (m.entries ?? []).map((e, i) => ({ ...e, id: i + 1, origin: "stored" as const })),
    groups: new Map(Object.entries(m.groups ?? {}).map(([g, members]) => [g, new Set(members)])),
    owners: new Map(Object.entries(m.things ?? {})),
    restrictions: new Set(m.restrictions ?? []),
    disabledDevices: new Set(m.disabled ?? []),
    users: new Set(m.users ?? []),
    devices: new Set(m.devices ?? []),
    units: new Map(
      Object.entries(m.units ?? {}).map(([u, v]) => [
        unitKey(u),
        { parent: v.parent === null ? null : unitKey(v.parent), members: new Set(v.members) },
      ]),
    ),
    visibility: new Map(Object.entries(m.visibility ?? {}).map(([k, units]) => [k, units.map(unitKey)])),
    organizations: Object.keys(m.units ?? {}).length > 0,
    templates: new Set(Object.keys(m.templates ?? {})),
    templateOf: new Map(Object.entries(m.templates ?? {}).flatMap(([t, things]) => things.map((x) => [x, t] as const))),
  };
}

export function entry(
  effect: "allow" | "deny",
  subject: Subject,
  permission: AccessPermission,
  target: Level,
): Omit<AccessEntry, "id" | "origin"> {
  return { effect, subject, permission, target };
}
