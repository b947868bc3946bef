/**
 * The access model (docs/access.md): users and devices, groups, permission entries (Allow or Deny
 * at a level), organizations of units and the visibility granted to units. Pure data: the
 * decision engine (access/decide.ts) works on an {@link AccessSnapshot}; the registry stores the
 * model (registry/access-sql.ts).
 */
import { ErrorCode, OutpostError } from "@outpost/protocol";

/** Run-time permissions on a Thing (or one of its properties, services or events). */
export const THING_RUNTIME_PERMISSIONS = [
  "property.read",
  "property.write",
  "event.emit",
  "event.subscribe",
  "service.execute",
] as const;

/** Run-time permissions on a device (its files, its repository area and its tunnels). */
export const DEVICE_RUNTIME_PERMISSIONS = ["file.read", "file.write", "tunnel.open"] as const;

/** Design-time permissions: create, read, update and delete the entity itself. */
export const DESIGN_PERMISSIONS = ["create", "read", "update", "delete"] as const;

export type ThingRuntimePermission = (typeof THING_RUNTIME_PERMISSIONS)[number];
export type DeviceRuntimePermission = (typeof DEVICE_RUNTIME_PERMISSIONS)[number];
export type DesignPermission = (typeof DESIGN_PERMISSIONS)[number];
/** Every permission an entry can hold. */
export type AccessPermission = ThingRuntimePermission | DeviceRuntimePermission | DesignPermission;

/** Every permission, in a stable order. */
export const ACCESS_PERMISSIONS: readonly AccessPermission[] = [
  ...THING_RUNTIME_PERMISSIONS,
  ...DEVICE_RUNTIME_PERMISSIONS,
  ...DESIGN_PERMISSIONS,
];

/** The predefined groups, created by the registry and never removed. */
export const ADMINISTRATORS = "Administrators";
export const OPERATORS = "Operators";
export const DEVICES = "Devices";
export const PREDEFINED_GROUPS: readonly string[] = [ADMINISTRATORS, OPERATORS, DEVICES];

/** Whether `p` is a permission an entry can hold. */
export function isAccessPermission(p: unknown): p is AccessPermission {
  return typeof p === "string" && (ACCESS_PERMISSIONS as readonly string[]).includes(p);
}

/** Whether `p` is a design-time permission. */
export function isDesignPermission(p: AccessPermission): p is DesignPermission {
  return (DESIGN_PERMISSIONS as readonly string[]).includes(p);
}

/** Whether `p` is decided on a device (file.*, tunnel.open) rather than on a Thing. */
export function isDevicePermission(p: AccessPermission): p is DeviceRuntimePermission {
  return (DEVICE_RUNTIME_PERMISSIONS as readonly string[]).includes(p);
}

/** Who an entry is for: one user (an operator), one device, or a group. */
export type Subject =
  { kind: "user"; name: string } | { kind: "device"; name: string } | { kind: "group"; name: string };

/** A Thing, a device or a Thing template: the entities that visibility and permissions are about. */
export type EntityKind = "thing" | "device" | "template";

/**
 * Where an entry applies, from the widest level to the narrowest:
 * - `collection`: every Thing (`things`), every device (`devices`) or every template (`templates`);
 * - `instances`: every Thing made from one template (the template-instance level);
 * - `template`: one template itself (design time only);
 * - `thing` / `device`: one Thing, or one device (for the device permissions and design time);
 * - `member`: one property, service or event of a Thing (`member` is its name).
 */
export type Level =
  | { level: "collection"; collection: "things" | "devices" | "templates" }
  | { level: "instances"; template: string }
  | { level: "template"; template: string }
  | { level: "thing"; thing: string }
  | { level: "device"; device: string }
  | { level: "member"; thing: string; member: string };

/** Allow grants unless a Deny applies; Deny beats every Allow. */
export type Effect = "allow" | "deny";

/**
 * Where an entry comes from: `stored` entries are managed with the CLI and API; `owner` stands for
 * the run-time permissions a device holds on the Things assigned to it; `administrators` for the
 * permissions members of Administrators hold on every collection. Derived entries cannot be
 * removed, only overridden by a Deny.
 */
export type EntryOrigin = "stored" | "owner" | "administrators";

/** One permission entry. */
export interface AccessEntry {
  /** Stable id of a stored entry; 0 for derived entries. */
  id: number;
  effect: Effect;
  subject: Subject;
  permission: AccessPermission;
  target: Level;
  origin: EntryOrigin;
}

/** A group and its members. */
export interface GroupRecord {
  name: string;
  description: string;
  /** Predefined groups cannot be removed. */
  predefined: boolean;
  /** Member users and devices, sorted. */
  members: Subject[];
}

/** One organization unit; a root unit has no parent and the organization's name. */
export interface UnitRecord {
  organization: string;
  name: string;
  /** Name of the parent unit in the same organization; null for the root. */
  parent: string | null;
  /** Member users, devices and groups, sorted. */
  members: Subject[];
}

/** Visibility of one entity granted to one unit. */
export interface VisibilityRecord {
  organization: string;
  unit: string;
  entity: { kind: EntityKind; name: string };
}

/** Everything a decision depends on, read from the registry at one moment. */
export interface AccessSnapshot {
  /** Stored entries (derived ones are added by the engine). */
  entries: readonly AccessEntry[];
  /** Group name to member keys (`user:alice`, `device:dev-1`). */
  groups: ReadonlyMap<string, ReadonlySet<string>>;
  /** Thing name to the device it is assigned to. */
  owners: ReadonlyMap<string, string>;
  /**
   * Default run-time permissions taken from a device on one of its own Things
   * (`device\0thing\0permission`): the owner Allow is then not derived.
   */
  restrictions: ReadonlySet<string>;
  /** Disabled device ids: they hold nothing. */
  disabledDevices: ReadonlySet<string>;
  /** Users (operator names) that exist. */
  users: ReadonlySet<string>;
  /** Devices that exist. */
  devices: ReadonlySet<string>;
  /** Organization units, by `org\0unit`. */
  units: ReadonlyMap<string, { parent: string | null; members: ReadonlySet<string> }>;
  /** Entity key (`thing:name`, `device:id`) to the units (`org\0unit`) it is visible to. */
  visibility: ReadonlyMap<string, readonly string[]>;
  /** Whether any organization exists: without one, every entity is visible to every principal. */
  organizations: boolean;
  /** Thing templates that exist (none when absent). */
  templates?: ReadonlySet<string>;
  /** Thing name to the template it was made from (Things made from none are absent). */
  templateOf?: ReadonlyMap<string, string>;
}

/** The principal of a request, as the engine sees it. */
export interface AccessPrincipal {
  kind: "device" | "operator";
  id: string;
  /** Groups from an external directory, treated exactly like stored memberships. */
  groups?: readonly string[];
}

/** What is asked: may `principal` use `permission` on a Thing (optionally one member) or a device. */
export interface AccessRequest {
  principal: AccessPrincipal;
  permission: AccessPermission;
  /** The Thing, or for the device permissions the device id. */
  target: string;
  /** One property, service or event name of the Thing; absent: the Thing as a whole. */
  member?: string;
  /**
   * For `create` of a Thing (whose name does not exist yet): the template it is to be made from.
   * Its template-instance entries then apply too, and the template must exist and be visible.
   */
  template?: string;
}

/** The answer, with the entries that produced it. */
export interface Decision {
  allowed: boolean;
  /**
   * Why: `deny` (a Deny applied; `entries` holds every applicable Deny), `allow` (an Allow applied,
   * no Deny; `entries` holds every applicable Allow), `default` (nothing applied), `invisible` (the
   * target is not visible to the principal), `unknown-principal`, `disabled` (a disabled device),
   * `device-excluded` (a device never holds design-time nor device permissions), `not-found` (no
   * such Thing or device).
   */
  reason:
    "deny" | "allow" | "default" | "invisible" | "unknown-principal" | "disabled" | "device-excluded" | "not-found";
  entries: AccessEntry[];
  /** Every group the principal was counted a member of (stored and external). */
  groups: string[];
  /** Why the target is visible to the principal, when it is. */
  visibility?: string;
  /**
   * The level decided when it is not a Thing, device or template itself: `instances:T` for the
   * template-instance level of template T (what every Thing made from it inherits).
   */
  level?: string;
}

/**
 * A change to the access model that is refused because it would break a fixed rule: a device in
 * Administrators, a design-time permission for a device, a predefined group removed. Code
 * OUTPOST_FORBIDDEN (403); `reason` says which rule.
 */
export class AccessModelError extends OutpostError {
  readonly reason: "device-administrator" | "device-design-time" | "device-operator-permission" | "predefined-group";
  constructor(reason: AccessModelError["reason"], message: string) {
    super(ErrorCode.Forbidden, message, { status: 403 });
    this.reason = reason;
  }
}

/** `user:alice`, `device:dev-1`, `group:Operators`: the key of a subject in snapshots. */
export function subjectKey(s: Subject): string {
  return `${s.kind}:${s.name}`;
}

/** The subject a principal acts as. */
export function principalSubject(p: AccessPrincipal): Subject {
  return p.kind === "device" ? { kind: "device", name: p.id } : { kind: "user", name: p.id };
}

/** Parses `user:NAME`, `device:ID`, `group:NAME`; a bare name is a user. */
export function parseSubject(text: string): Subject {
  const m = /^(user|operator|device|group):(.+)$/.exec(text);
  if (!m) return { kind: "user", name: text };
  const kind = m[1] === "operator" ? "user" : (m[1] as Subject["kind"]);
  return { kind, name: m[2]! } as Subject;
}

/** The text form of a level: `things`, `devices`, `templates`, `instances:T`, `template:T`, `thing:NAME`, `device:ID`, `thing:NAME#M`. */
export function levelText(l: Level): string {
  switch (l.level) {
    case "collection":
      return l.collection;
    case "instances":
      return `instances:${l.template}`;
    case "template":
      return `template:${l.template}`;
    case "thing":
      return `thing:${l.thing}`;
    case "device":
      return `device:${l.device}`;
    case "member":
      return `thing:${l.thing}#${l.member}`;
  }
}

/** Parses the text form of {@link levelText}. */
export function parseLevel(text: string): Level {
  if (text === "things" || text === "*") return { level: "collection", collection: "things" };
  if (text === "devices") return { level: "collection", collection: "devices" };
  if (text === "templates") return { level: "collection", collection: "templates" };
  if (text.startsWith("instances:") && text.length > 10) return { level: "instances", template: text.slice(10) };
  if (text.startsWith("template:") && text.length > 9) return { level: "template", template: text.slice(9) };
  const member = /^thing:([^#]+)#(.+)$/.exec(text);
  if (member) return { level: "member", thing: member[1]!, member: member[2]! };
  if (text.startsWith("thing:") && text.length > 6) return { level: "thing", thing: text.slice(6) };
  if (text.startsWith("device:") && text.length > 7) return { level: "device", device: text.slice(7) };
  throw new OutpostError(
    ErrorCode.BadRequest,
    `invalid level ${JSON.stringify(text)}: use things, devices, templates, instances:TEMPLATE, template:TEMPLATE, thing:NAME, device:ID or thing:NAME#MEMBER`,
  );
}
