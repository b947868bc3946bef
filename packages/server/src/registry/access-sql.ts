import { ErrorCode, OutpostError } from "@outpost/protocol";
import type Database from "better-sqlite3";
import { AccessEngine } from "../access/engine.js";
import {
  type AccessEntry,
  AccessModelError,
  type AccessPermission,
  type AccessPrincipal,
  type AccessRequest,
  type AccessSnapshot,
  ADMINISTRATORS,
  type Decision,
  DEVICES,
  type Effect,
  type EntityKind,
  type GroupRecord,
  isAccessPermission,
  isDesignPermission,
  isDevicePermission,
  type Level,
  levelText,
  OPERATORS,
  type Subject,
  subjectKey,
  type UnitRecord,
  type VisibilityRecord,
} from "../access/model.js";
import { type EntryRow, entryFromRow, readAccessSnapshot } from "./access-snapshot.js";
import { assertDeviceId, assertOperatorName, assertThingName, isMemberName } from "./names.js";

// Group, organization and unit names: like operator names, with spaces not allowed.
const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._@:-]{0,127}$/;

/** How often the model is checked for changes made by another process (the CLI), in ms. */
const RECHECK_MS = 250;

function targetColumns(l: Level): [Level["level"], string, string] {
  switch (l.level) {
    case "collection":
      return ["collection", l.collection, ""];
    case "instances":
    case "template":
      return [l.level, l.template, ""];
    case "thing":
      return ["thing", l.thing, ""];
    case "device":
      return ["device", l.device, ""];
    case "member":
      return ["member", l.thing, l.member];
  }
}

/** Throws OUTPOST_BAD_REQUEST unless `name` is a valid group, organization or unit name. */
export function assertModelName(name: unknown, what: string): asserts name is string {
  if (typeof name !== "string" || !MODEL_NAME.test(name)) {
    throw new OutpostError(
      ErrorCode.BadRequest,
      `invalid ${what} name ${JSON.stringify(name)}: use 1-128 of A-Z a-z 0-9 . _ @ : - starting with a letter or digit`,
    );
  }
}

const notFound = (what: string, name: string) =>
  new OutpostError(ErrorCode.NotFound, `${what} ${name} not found`, { status: 404 });

/**
 * The access model on the registry's SQLite database (tables of registry/access-schema.ts) and
 * the decisions over it. Every change invalidates the decision cache; a change committed by
 * another process is seen within {@link RECHECK_MS} (SQLite's data_version). Methods throw
 * OUTPOST_BAD_REQUEST for invalid names, OUTPOST_NOT_FOUND for a missing group, unit, user,
 * device or Thing, OUTPOST_CONFLICT for an existing one, and {@link AccessModelError} for a
 * change the model's fixed rules refuse; nothing is changed then.
 */
export class SqliteAccess {
  readonly #db: Database.Database;
  readonly #now: () => number;
  readonly #engine: AccessEngine;
  readonly #dataVersion: Database.Statement;
  #seenVersion = -1;
  #checkedAt = 0;

  constructor(db: Database.Database, now: () => number) {
    this.#db = db;
    this.#now = now;
    this.#engine = new AccessEngine({ load: () => this.snapshot() });
    this.#dataVersion = db.prepare("PRAGMA data_version").pluck();
  }

  /** Call after any local change that a decision depends on (Things, devices, operators). */
  changed(): void {
    this.#engine.invalidate();
  }

  #fresh(): AccessEngine {
    const now = Date.now();
    if (now - this.#checkedAt >= RECHECK_MS || now < this.#checkedAt) {
      this.#checkedAt = now;
      const v = this.#dataVersion.get() as number;
      if (v !== this.#seenVersion) {
        this.#seenVersion = v;
        this.#engine.invalidate();
      }
    }
    return this.#engine;
  }

  /** Whether the request is allowed (cached until the model changes). */
  allows(request: AccessRequest, entity?: EntityKind): boolean {
    return this.#fresh().allows(request, entity);
  }

  /** The decision with every entry that produced it. */
  decide(request: AccessRequest, entity?: EntityKind): Decision {
    return this.#fresh().decide(request, entity);
  }

  /** The decision at the template-instance level of template `request.target` (access/decide.ts). */
  decideInstances(request: AccessRequest): Decision {
    return this.#fresh().decideInstances(request);
  }

  /** Whether the Thing or device exists for `principal` (exists and is visible to it). */
  visible(principal: AccessPrincipal, kind: EntityKind, name: string): boolean {
    return this.#fresh().visible(principal, kind, name);
  }

  /** Whether `principal` is an operator in Administrators (stored or external membership). */
  isAdministrator(principal: AccessPrincipal): boolean {
    return this.#fresh().isAdministrator(principal);
  }

  /** The model as stored now. */
  snapshot(): AccessSnapshot {
    return readAccessSnapshot(this.#db);
  }

  // --- groups -------------------------------------------------------------------------------

  listGroups(): GroupRecord[] {
    const rows = this.#db.prepare("SELECT * FROM access_groups ORDER BY name").all() as {
      name: string;
      description: string;
      predefined: number;
    }[];
    return rows.map((g) => ({
      name: g.name,
      description: g.description,
      predefined: g.predefined !== 0,
      members: this.#groupMembers(g.name),
    }));
  }

  getGroup(name: string): GroupRecord | undefined {
    return this.listGroups().find((g) => g.name === name);
  }

  createGroup(name: string, description = ""): GroupRecord {
    assertModelName(name, "group");
    const r = this.#db
      .prepare("INSERT OR IGNORE INTO access_groups (name, description, created_at) VALUES (?, ?, ?)")
      .run(name, String(description), this.#now());
    if (r.changes === 0) throw new OutpostError(ErrorCode.Conflict, `group ${name} already exists`, { status: 409 });
    this.changed();
    return { name, description: String(description), predefined: false, members: [] };
  }

  /** Removes a group with its memberships and its entries. Predefined groups are refused. */
  deleteGroup(name: string): GroupRecord {
    const g = this.getGroup(name);
    if (!g) throw notFound("group", name);
    if (g.predefined)
      throw new AccessModelError("predefined-group", `group ${name} is predefined and cannot be removed`);
    this.#db.transaction(() => {
      this.#db.prepare("DELETE FROM access_entries WHERE subject_kind = 'group' AND subject_name = ?").run(name);
      this.#db.prepare("DELETE FROM org_unit_members WHERE member_kind = 'group' AND member_name = ?").run(name);
      this.#db.prepare("DELETE FROM access_groups WHERE name = ?").run(name);
    })();
    this.changed();
    return g;
  }

  /**
   * Adds a user or device to a group. A device is refused from Administrators
   * ({@link AccessModelError} `device-administrator`): one key per device, least privilege.
   */
  addMember(group: string, member: Subject): boolean {
    if (!this.getGroup(group)) throw notFound("group", group);
    this.#requireSubject(member, false);
    if (member.kind === "device" && group === ADMINISTRATORS) {
      throw new AccessModelError(
        "device-administrator",
        `device ${member.name} cannot be a member of ${ADMINISTRATORS}: a device holds only its own run-time permissions`,
      );
    }
    const r = this.#db
      .prepare("INSERT OR IGNORE INTO access_group_members (group_name, member_kind, member_name) VALUES (?, ?, ?)")
      .run(group, member.kind, member.name);
    this.changed();
    return r.changes > 0;
  }

  removeMember(group: string, member: Subject): boolean {
    if (!this.getGroup(group)) throw notFound("group", group);
    const r = this.#db
      .prepare("DELETE FROM access_group_members WHERE group_name = ? AND member_kind = ? AND member_name = ?")
      .run(group, member.kind, member.name);
    this.changed();
    return r.changes > 0;
  }

  /** Joins a new operator to Operators (and Administrators when `admin`) or a new device to Devices. */
  enrol(subject: Subject, admin = false): void {
    const add = this.#db.prepare(
      "INSERT OR IGNORE INTO access_group_members (group_name, member_kind, member_name) VALUES (?, ?, ?)",
    );
    if (subject.kind === "device") add.run(DEVICES, "device", subject.name);
    else {
      add.run(OPERATORS, "user", subject.name);
      if (admin) add.run(ADMINISTRATORS, "user", subject.name);
    }
    this.changed();
  }

  #groupMembers(group: string): Subject[] {
    return (
      this.#db
        .prepare(
          "SELECT member_kind, member_name FROM access_group_members WHERE group_name = ? ORDER BY member_kind DESC, member_name",
        )
        .all(group) as { member_kind: Subject["kind"]; member_name: string }[]
    ).map((r) => ({ kind: r.member_kind, name: r.member_name }) as Subject);
  }

  // --- permission entries -------------------------------------------------------------------

  /** Stored entries, oldest first; only those of one subject when given. */
  listEntries(subject?: Subject): AccessEntry[] {
    const rows = (
      subject === undefined
        ? this.#db.prepare("SELECT * FROM access_entries ORDER BY id").all()
        : this.#db
            .prepare("SELECT * FROM access_entries WHERE subject_kind = ? AND subject_name = ? ORDER BY id")
            .all(subject.kind, subject.name)
    ) as EntryRow[];
    return rows.map(entryFromRow);
  }

  /**
   * Stores an entry (an identical one is returned as it is). Refused: a device subject with a
   * design-time or device permission ({@link AccessModelError}); a level that does not fit the
   * permission (OUTPOST_BAD_REQUEST); a subject or target that does not exist (OUTPOST_NOT_FOUND).
   */
  addEntry(effect: Effect, subject: Subject, permission: AccessPermission, target: Level): AccessEntry {
    this.#checkEntry(effect, subject, permission, target);
    const [level, t, member] = targetColumns(target);
    this.#db
      .prepare(
        `INSERT OR IGNORE INTO access_entries (effect, subject_kind, subject_name, permission, level, target, member, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(effect, subject.kind, subject.name, permission, level, t, member, this.#now());
    this.changed();
    return this.findEntry(effect, subject, permission, target)!;
  }

  findEntry(effect: Effect, subject: Subject, permission: AccessPermission, target: Level): AccessEntry | undefined {
    const [level, t, member] = targetColumns(target);
    const row = this.#db
      .prepare(
        `SELECT * FROM access_entries WHERE effect = ? AND subject_kind = ? AND subject_name = ? AND permission = ?
           AND level = ? AND target = ? AND member = ?`,
      )
      .get(effect, subject.kind, subject.name, permission, level, t, member) as EntryRow | undefined;
    return row && entryFromRow(row);
  }

  /** Removes one entry by id; returns it, or undefined when there was none. */
  removeEntry(id: number): AccessEntry | undefined {
    const row = this.#db.prepare("SELECT * FROM access_entries WHERE id = ?").get(id) as EntryRow | undefined;
    if (!row) return undefined;
    this.#db.prepare("DELETE FROM access_entries WHERE id = ?").run(id);
    this.changed();
    return entryFromRow(row);
  }

  #checkEntry(effect: Effect, subject: Subject, permission: AccessPermission, target: Level): void {
    if (effect !== "allow" && effect !== "deny") {
      throw new OutpostError(ErrorCode.BadRequest, `invalid effect ${JSON.stringify(effect)}: use allow or deny`);
    }
    if (!isAccessPermission(permission)) {
      throw new OutpostError(ErrorCode.BadRequest, `invalid permission ${JSON.stringify(permission)}`);
    }
    if (subject.kind === "device" && isDesignPermission(permission)) {
      throw new AccessModelError(
        "device-design-time",
        `device ${subject.name} cannot be given design-time permission ${permission}`,
      );
    }
    if (subject.kind === "device" && isDevicePermission(permission)) {
      throw new AccessModelError(
        "device-operator-permission",
        `${permission} is granted to users and groups only, not to device ${subject.name}`,
      );
    }
    this.#requireSubject(subject, true);
    const onDevice = isDevicePermission(permission);
    const design = isDesignPermission(permission);
    const fits =
      target.level === "collection"
        ? onDevice
          ? target.collection === "devices"
          : design || target.collection === "things"
        : target.level === "device"
          ? onDevice || design
          : target.level === "instances"
            ? !onDevice
            : target.level === "template"
              ? design && permission !== "create"
              : target.level === "thing"
                ? !onDevice
                : !onDevice && !design;
    if (!fits) {
      throw new OutpostError(ErrorCode.BadRequest, `${permission} cannot be set at level ${levelText(target)}`);
    }
    if (target.level === "device" && !this.#exists("devices", "id", target.device))
      throw notFound("device", target.device);
    if (
      (target.level === "instances" || target.level === "template") &&
      !this.#exists("thing_templates", "name", target.template)
    ) {
      throw notFound("template", target.template);
    }
    if (target.level === "thing" || target.level === "member") {
      assertThingName(target.thing);
      if (!this.#exists("things", "name", target.thing)) throw notFound("Thing", target.thing);
    }
    if (target.level === "member" && !isMemberName(target.member)) {
      throw new OutpostError(ErrorCode.BadRequest, `invalid member name ${JSON.stringify(target.member)}`);
    }
  }

  #requireSubject(s: Subject, groupsToo: boolean): void {
    if (s.kind === "user") {
      assertOperatorName(s.name);
      if (!this.#exists("operators", "name", s.name)) throw notFound("user", s.name);
    } else if (s.kind === "device") {
      assertDeviceId(s.name);
      if (!this.#exists("devices", "id", s.name)) throw notFound("device", s.name);
    } else if (s.kind === "group" && groupsToo) {
      if (!this.#exists("access_groups", "name", s.name)) throw notFound("group", s.name);
    } else {
      throw new OutpostError(
        ErrorCode.BadRequest,
        `invalid member ${JSON.stringify(subjectKey(s))}: use user:NAME or device:ID`,
      );
    }
  }

  #exists(table: string, column: string, value: string): boolean {
    return this.#db.prepare(`SELECT 1 FROM ${table} WHERE ${column} = ?`).get(value) !== undefined;
  }

  // --- organizations, units, visibility -----------------------------------------------------

  /** Organizations with their units (root first, then by name). */
  listOrganizations(): { name: string; description: string; units: UnitRecord[] }[] {
    const orgs = this.#db.prepare("SELECT name, description FROM organizations ORDER BY name").all() as {
      name: string;
      description: string;
    }[];
    return orgs.map((o) => ({ ...o, units: this.listUnits(o.name) }));
  }

  listUnits(organization: string): UnitRecord[] {
    const rows = this.#db
      .prepare("SELECT name, parent FROM org_units WHERE organization = ? ORDER BY parent IS NOT NULL, name")
      .all(organization) as { name: string; parent: string | null }[];
    return rows.map((u) => ({
      organization,
      name: u.name,
      parent: u.parent,
      members: (
        this.#db
          .prepare(
            "SELECT member_kind, member_name FROM org_unit_members WHERE organization = ? AND unit = ? ORDER BY member_kind, member_name",
          )
          .all(organization, u.name) as { member_kind: Subject["kind"]; member_name: string }[]
      ).map((m) => ({ kind: m.member_kind, name: m.member_name }) as Subject),
    }));
  }

  /**
   * Creates an organization with its root unit (of the same name). The first organization turns
   * visibility on: from then on an entity is visible only as docs/access.md says.
   */
  createOrganization(name: string, description = ""): void {
    assertModelName(name, "organization");
    this.#db.transaction(() => {
      const r = this.#db
        .prepare("INSERT OR IGNORE INTO organizations (name, description, created_at) VALUES (?, ?, ?)")
        .run(name, String(description), this.#now());
      if (r.changes === 0)
        throw new OutpostError(ErrorCode.Conflict, `organization ${name} already exists`, { status: 409 });
      this.#db.prepare("INSERT INTO org_units (organization, name, parent) VALUES (?, ?, NULL)").run(name, name);
    })();
    this.changed();
  }

  /** Removes an organization with its units, their members and visibility. */
  deleteOrganization(name: string): void {
    if (!this.#exists("organizations", "name", name)) throw notFound("organization", name);
    this.#db.prepare("DELETE FROM organizations WHERE name = ?").run(name);
    this.changed();
  }

  /** Adds a unit below `parent` (default: the root unit). */
  createUnit(organization: string, name: string, parent: string = organization): void {
    assertModelName(name, "unit");
    this.#requireUnit(organization, parent);
    const r = this.#db
      .prepare("INSERT OR IGNORE INTO org_units (organization, name, parent) VALUES (?, ?, ?)")
      .run(organization, name, parent);
    if (r.changes === 0) {
      throw new OutpostError(ErrorCode.Conflict, `unit ${organization}/${name} already exists`, { status: 409 });
    }
    this.changed();
  }

  /** Removes a unit that has no units below it (the root goes with its organization). */
  deleteUnit(organization: string, name: string): void {
    this.#requireUnit(organization, name);
    if (name === organization) {
      throw new OutpostError(
        ErrorCode.BadRequest,
        `unit ${name} is the root of its organization: remove the organization`,
      );
    }
    const children = this.#db
      .prepare("SELECT COUNT(*) FROM org_units WHERE organization = ? AND parent = ?")
      .pluck()
      .get(organization, name) as number;
    if (children > 0) {
      throw new OutpostError(ErrorCode.Conflict, `unit ${organization}/${name} has units below it`, { status: 409 });
    }
    this.#db.prepare("DELETE FROM org_units WHERE organization = ? AND name = ?").run(organization, name);
    this.changed();
  }

  addUnitMember(organization: string, unit: string, member: Subject): boolean {
    this.#requireUnit(organization, unit);
    this.#requireSubject(member, true);
    const r = this.#db
      .prepare(
        "INSERT OR IGNORE INTO org_unit_members (organization, unit, member_kind, member_name) VALUES (?, ?, ?, ?)",
      )
      .run(organization, unit, member.kind, member.name);
    this.changed();
    return r.changes > 0;
  }

  removeUnitMember(organization: string, unit: string, member: Subject): boolean {
    this.#requireUnit(organization, unit);
    const r = this.#db
      .prepare(
        "DELETE FROM org_unit_members WHERE organization = ? AND unit = ? AND member_kind = ? AND member_name = ?",
      )
      .run(organization, unit, member.kind, member.name);
    this.changed();
    return r.changes > 0;
  }

  /** Makes a Thing, template or device (and, for a device, its Things and repository area) visible to a unit and those above it. */
  grantVisibility(organization: string, unit: string, kind: EntityKind, name: string): boolean {
    this.#requireUnit(organization, unit);
    const table = {
      thing: ["things", "name", "Thing"],
      device: ["devices", "id", "device"],
      template: ["thing_templates", "name", "template"],
    }[kind];
    if (!table) {
      throw new OutpostError(
        ErrorCode.BadRequest,
        `invalid entity kind ${JSON.stringify(kind)}: use thing, device or template`,
      );
    }
    if (!this.#exists(table[0]!, table[1]!, name)) throw notFound(table[2]!, name);
    const r = this.#db
      .prepare("INSERT OR IGNORE INTO visibility (organization, unit, entity_kind, entity_name) VALUES (?, ?, ?, ?)")
      .run(organization, unit, kind, name);
    this.changed();
    return r.changes > 0;
  }

  revokeVisibility(organization: string, unit: string, kind: EntityKind, name: string): boolean {
    const r = this.#db
      .prepare("DELETE FROM visibility WHERE organization = ? AND unit = ? AND entity_kind = ? AND entity_name = ?")
      .run(organization, unit, kind, name);
    this.changed();
    return r.changes > 0;
  }

  listVisibility(): VisibilityRecord[] {
    return (
      this.#db.prepare("SELECT * FROM visibility ORDER BY organization, unit, entity_kind, entity_name").all() as {
        organization: string;
        unit: string;
        entity_kind: EntityKind;
        entity_name: string;
      }[]
    ).map((v) => ({
      organization: v.organization,
      unit: v.unit,
      entity: { kind: v.entity_kind, name: v.entity_name },
    }));
  }

  #requireUnit(organization: string, unit: string): void {
    if (!this.#db.prepare("SELECT 1 FROM org_units WHERE organization = ? AND name = ?").get(organization, unit)) {
      throw notFound("unit", `${organization}/${unit}`);
    }
  }
}
