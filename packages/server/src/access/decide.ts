import {
  type AccessEntry,
  type AccessPermission,
  type AccessPrincipal,
  type AccessRequest,
  type AccessSnapshot,
  ADMINISTRATORS,
  type Decision,
  type EntityKind,
  isDesignPermission,
  isDevicePermission,
  type Level,
  principalSubject,
  subjectKey,
} from "./model.js";

/** The run-time permissions a device holds by default on the Things assigned to it. */
const OWNER_PERMISSIONS: readonly AccessPermission[] = [
  "property.read",
  "property.write",
  "event.emit",
  "service.execute",
];

/** The entity a request is about: device permissions are decided on devices, the rest on Things. */
export function entityOf(permission: AccessPermission, entity?: EntityKind): EntityKind {
  if (isDevicePermission(permission)) return "device";
  return entity ?? "thing";
}

/** Where an entry applies, as an index key: `things`, `instances:T`, `template:T`, `thing:X`, `device:X`, `member:X#m`. */
function levelKey(l: Level): string {
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
      return `member:${l.thing}#${l.member}`;
  }
}

/**
 * A snapshot prepared for decisions: entries indexed by permission and level, and memberships
 * by subject. Built once per change of the model; immutable afterwards.
 */
export class CompiledModel {
  readonly snapshot: AccessSnapshot;
  readonly #entries = new Map<string, AccessEntry[]>();
  readonly #groupsOf = new Map<string, string[]>();

  constructor(snapshot: AccessSnapshot) {
    this.snapshot = snapshot;
    for (const e of snapshot.entries) {
      const key = `${e.permission}\0${levelKey(e.target)}`;
      let list = this.#entries.get(key);
      if (!list) this.#entries.set(key, (list = []));
      list.push(e);
    }
    for (const [group, members] of snapshot.groups) {
      for (const m of members) {
        let list = this.#groupsOf.get(m);
        if (!list) this.#groupsOf.set(m, (list = []));
        list.push(group);
      }
    }
  }

  /**
   * The groups `p` counts as a member of: stored memberships and the principal's external ones.
   * A device is never counted in Administrators, whatever a directory says.
   */
  groupsOf(p: AccessPrincipal): string[] {
    const stored = this.#groupsOf.get(subjectKey(principalSubject(p))) ?? [];
    const all = new Set([...stored, ...(p.groups ?? [])]);
    if (p.kind === "device") all.delete(ADMINISTRATORS);
    return [...all].sort();
  }

  /** Stored entries for `permission` at one level key. */
  entriesAt(permission: AccessPermission, key: string): readonly AccessEntry[] {
    return this.#entries.get(`${permission}\0${key}`) ?? [];
  }

  /** Whether the principal exists (and, for a device, is not disabled). */
  principalState(p: AccessPrincipal): "ok" | "unknown" | "disabled" {
    const s = this.snapshot;
    if (p.kind === "operator") return s.users.has(p.id) ? "ok" : "unknown";
    if (p.kind !== "device" || !s.devices.has(p.id)) return "unknown";
    return s.disabledDevices.has(p.id) ? "disabled" : "ok";
  }

  /** Whether the Thing, device or template exists. */
  exists(kind: EntityKind, name: string): boolean {
    const s = this.snapshot;
    if (kind === "device") return s.devices.has(name);
    if (kind === "template") return s.templates?.has(name) ?? false;
    return s.owners.has(name);
  }

  /**
   * The index keys of the levels that cover a request on an existing entity, widest first: a
   * template is covered by `templates` and itself; a Thing by `things`, the instance level of the
   * template it was made from, itself, and for a request about one member that member.
   */
  levelsOf(kind: EntityKind, target: string, member?: string): string[] {
    if (kind === "device") return ["devices", `device:${target}`];
    if (kind === "template") return ["templates", `template:${target}`];
    const template = this.snapshot.templateOf?.get(target);
    const keys = ["things", ...(template !== undefined ? [`instances:${template}`] : []), `thing:${target}`];
    if (member !== undefined) keys.push(`member:${target}#${member}`);
    return keys;
  }

  /**
   * Why `entity` is visible to `p` (a short text for explain), or undefined when it is not: with
   * no organization every entity is visible; Administrators see everything; a device sees itself
   * and its own Things; otherwise the entity (or, for a Thing, its device) must be visible to a
   * unit that the principal or one of its groups is a member of, or to a unit below such a unit.
   */
  visibility(p: AccessPrincipal, groups: readonly string[], kind: EntityKind, name: string): string | undefined {
    const s = this.snapshot;
    if (!s.organizations) return "no organization exists";
    if (p.kind === "operator" && groups.includes(ADMINISTRATORS)) return "member of Administrators";
    const owner = kind === "thing" ? s.owners.get(name) : undefined;
    if (p.kind === "device" && (kind === "device" ? name === p.id : owner === p.id)) return "its own";
    const memberKeys = new Set([subjectKey(principalSubject(p)), ...groups.map((g) => `group:${g}`)]);
    const keys = [`${kind}:${name}`, ...(owner !== undefined ? [`device:${owner}`] : [])];
    for (const key of keys) {
      for (const unit of s.visibility.get(key) ?? []) {
        // Visible to the unit and to every unit above it.
        let at: string | null = unit;
        for (let depth = 0; at !== null && depth < 64; depth++) {
          const u = s.units.get(at);
          if (!u) break;
          for (const m of u.members) {
            if (memberKeys.has(m))
              return `visible to unit ${unit.replace("\0", "/")} (${key}) via ${at.replace("\0", "/")}`;
          }
          at = u.parent;
        }
      }
    }
    return undefined;
  }
}

/**
 * Decides one request (docs/access.md): default deny; a Deny that applies at any level, to the
 * principal or any of its groups, beats every Allow; otherwise an Allow that applies grants.
 * Before any entry: the principal must exist (a disabled device holds nothing), a device never
 * holds design-time or device permissions, the target must exist and be visible to the principal.
 * An entry applies when it names the permission, the principal or one of its groups, and a level
 * that covers the target: its collection, for a Thing the instance level of its template, the
 * Thing (device, template) itself, or, for a request about one member of a Thing, that member. A
 * request about the whole Thing is not covered by entries on single members. `create` is decided
 * on the collection (and, for a Thing made from a template, that template's instance level).
 */
export function decide(model: CompiledModel, request: AccessRequest, entity?: EntityKind): Decision {
  const { principal: p, permission, target, member } = request;
  const state = model.principalState(p);
  if (state !== "ok") return refusal(state === "unknown" ? "unknown-principal" : "disabled", []);
  const groups = model.groupsOf(p);
  const kind = entityOf(permission, entity);
  if (p.kind === "device" && (isDesignPermission(permission) || isDevicePermission(permission))) {
    return refusal("device-excluded", groups);
  }
  const s = model.snapshot;
  const administrator = p.kind === "operator" && groups.includes(ADMINISTRATORS);
  let keys: string[];
  let visibility: string | undefined;
  if (permission === "create") {
    // The new entity does not exist yet: its collection decides, and for a Thing made from a
    // template that template's instance level, once the template exists for the principal.
    keys = [collectionOf(kind)];
    visibility = "a new entity";
    const template = kind === "thing" ? request.template : undefined;
    if (template !== undefined) {
      if (!s.templates?.has(template)) return refusal("not-found", groups);
      visibility = model.visibility(p, groups, "template", template);
      if (visibility === undefined) return refusal("invisible", groups);
      keys.push(`instances:${template}`);
    }
  } else {
    // Administrators hold every permission on every name, as before the access model existed.
    if (!model.exists(kind, target) && !administrator) return refusal("not-found", groups);
    visibility = model.visibility(p, groups, kind, target);
    if (visibility === undefined) return refusal("invisible", groups);
    keys = model.levelsOf(kind, target, member);
  }
  return conclude(model, request, kind, groups, keys, visibility);
}

/**
 * Decides a request at the template-instance level of template `request.target`: what every Thing
 * made from it inherits, from the entries at `things` and `instances:T` (for explain; `create`
 * there is "may make Things from T"). The entries of one Thing or one member, and a device's
 * owner permissions, belong to single Things and are not part of it. The template must exist;
 * for `create` it must also be visible to the principal (as creating from it requires), for the
 * other permissions each Thing's own visibility decides, so it is not asked here.
 */
export function decideInstances(model: CompiledModel, request: AccessRequest): Decision {
  const { principal: p, permission, target: template } = request;
  const state = model.principalState(p);
  if (state !== "ok") return refusal(state === "unknown" ? "unknown-principal" : "disabled", []);
  const groups = model.groupsOf(p);
  const level = `instances:${template}`;
  if (p.kind === "device" && isDesignPermission(permission)) return { ...refusal("device-excluded", groups), level };
  if (!model.exists("template", template)) return { ...refusal("not-found", groups), level };
  let visibility = "each Thing's own (a template's visibility does not extend to its Things)";
  if (permission === "create") {
    const v = model.visibility(p, groups, "template", template);
    if (v === undefined) return { ...refusal("invisible", groups), level };
    visibility = v;
  }
  return { ...conclude(model, request, "thing", groups, ["things", level], visibility, false), level };
}

/** The applicable entries at `keys` (and the derived ones) and the decision they make. */
function conclude(
  model: CompiledModel,
  request: AccessRequest,
  kind: EntityKind,
  groups: string[],
  keys: readonly string[],
  visibility: string,
  owner = true,
): Decision {
  const { principal: p, permission, target } = request;
  const s = model.snapshot;
  const administrator = p.kind === "operator" && groups.includes(ADMINISTRATORS);
  const subjects = new Set([subjectKey(principalSubject(p)), ...groups.map((g) => `group:${g}`)]);
  const applicable: AccessEntry[] = [];
  for (const key of keys) {
    for (const e of model.entriesAt(permission, key)) if (subjects.has(subjectKey(e.subject))) applicable.push(e);
  }
  if (administrator) {
    applicable.push({
      id: 0,
      effect: "allow",
      subject: { kind: "group", name: ADMINISTRATORS },
      permission,
      target: { level: "collection", collection: collectionOf(kind) },
      origin: "administrators",
    });
  }
  if (
    owner &&
    p.kind === "device" &&
    kind === "thing" &&
    s.owners.get(target) === p.id &&
    OWNER_PERMISSIONS.includes(permission) &&
    !s.restrictions.has(`${p.id}\0${target}\0${permission}`)
  ) {
    applicable.push({
      id: 0,
      effect: "allow",
      subject: { kind: "device", name: p.id },
      permission,
      target: { level: "thing", thing: target },
      origin: "owner",
    });
  }
  const denies = applicable.filter((e) => e.effect === "deny");
  if (denies.length > 0) return { allowed: false, reason: "deny", entries: denies, groups, visibility };
  if (applicable.length > 0) return { allowed: true, reason: "allow", entries: applicable, groups, visibility };
  return { allowed: false, reason: "default", entries: [], groups, visibility };
}

function collectionOf(kind: EntityKind): "things" | "devices" | "templates" {
  return kind === "device" ? "devices" : kind === "template" ? "templates" : "things";
}

function refusal(reason: Decision["reason"], groups: string[]): Decision {
  return { allowed: false, reason, entries: [], groups };
}
