/**
 * The model file (docs/model-export.md): organizations and their unit trees, groups and their
 * members, users, devices, Thing templates, Things, restrictions, access entries and visibility, as JSON with
 * `"format": "outpost-model/1"`. No secret is part of it: no password hash, token, application key
 * or private key. Sections are arrays sorted by their key, so that two exports of the same model
 * are byte for byte equal.
 */
import { ErrorCode, OutpostError } from "@outpost/protocol";
import { type AccessPermission, type Effect, isAccessPermission, parseLevel } from "../access/model.js";
import { assertModelName } from "../registry/access-sql.js";
import { assertDeviceId, assertOperatorName, assertThingName, isMemberName, isPermission } from "../registry/names.js";
import type { Permission } from "../registry/types.js";
import { assertTemplateName, parseTemplateDefinition, type TemplateDefinition } from "../templates/model.js";

/** The format this server writes and reads. */
export const MODEL_FORMAT = "outpost-model/1";

/** A device: its id, description and whether it is disabled (never its keys or certificates). */
export interface ModelDevice {
  id: string;
  description: string;
  disabled: boolean;
}

/** A user (an operator) by name; its groups are in `groups`, its credentials are not exported. */
export interface ModelUser {
  name: string;
}

/** A Thing template: its name and declaration (docs/templates.md). */
export interface ModelTemplate extends TemplateDefinition {
  name: string;
}

/** A Thing and the device it is assigned to (and the template it is made from, if any). */
export interface ModelThing {
  name: string;
  device: string;
  description: string;
  template?: string;
}

/** A default run-time permission taken from a device on one of its own Things. */
export interface ModelRestriction {
  device: string;
  thing: string;
  permission: Permission;
}

/** A group with its members (`user:NAME`, `device:ID`), sorted. */
export interface ModelGroup {
  name: string;
  description: string;
  members: string[];
}

/** A unit of an organization: the root has the organization's name and no parent. */
export interface ModelUnit {
  name: string;
  parent: string | null;
  /** `user:NAME`, `device:ID`, `group:NAME`, sorted. */
  members: string[];
}

/** An organization with its units, root first. */
export interface ModelOrganization {
  name: string;
  description: string;
  units: ModelUnit[];
}

/** A stored permission entry in the text forms of the CLI. */
export interface ModelEntry {
  effect: Effect;
  /** `user:NAME`, `device:ID` or `group:NAME`. */
  subject: string;
  permission: AccessPermission;
  /** `things`, `devices`, `thing:NAME`, `device:ID` or `thing:NAME#MEMBER`. */
  level: string;
}

/** Visibility of `thing:NAME` or `device:ID` granted to one unit. */
export interface ModelVisibility {
  organization: string;
  unit: string;
  entity: string;
}

/** A whole model file. */
export interface ModelDocument {
  format: typeof MODEL_FORMAT;
  devices: ModelDevice[];
  users: ModelUser[];
  templates: ModelTemplate[];
  things: ModelThing[];
  restrictions: ModelRestriction[];
  groups: ModelGroup[];
  organizations: ModelOrganization[];
  entries: ModelEntry[];
  visibility: ModelVisibility[];
}

/** The sections of a model file, in the order they are written and imported. */
export const MODEL_SECTIONS = [
  "devices",
  "users",
  "templates",
  "things",
  "restrictions",
  "groups",
  "organizations",
  "entries",
  "visibility",
] as const;

/** One problem found in a model file, at a JSON path such as `$.entries[3].permission`. */
export interface ModelProblem {
  path: string;
  message: string;
}

/** Most problems listed in the error's message (all are in `problems`). */
const MESSAGE_PROBLEMS = 10;

/**
 * A model file that cannot be read: not JSON, another format, or an item that breaks a rule.
 * Code OUTPOST_BAD_REQUEST; `problems` holds every problem with its JSON path.
 */
export class ModelFormatError extends OutpostError {
  readonly problems: ModelProblem[];
  constructor(problems: ModelProblem[]) {
    const shown = problems.slice(0, MESSAGE_PROBLEMS).map((p) => `${p.path}: ${p.message}`);
    const more = problems.length > MESSAGE_PROBLEMS ? [`... and ${problems.length - MESSAGE_PROBLEMS} more`] : [];
    super(ErrorCode.BadRequest, `invalid model file: ${[...shown, ...more].join("; ")}`, { status: 400 });
    this.problems = problems;
  }
}

type Json = Record<string, unknown>;

/** Collects problems while reading a document. */
class Reader {
  readonly problems: ModelProblem[] = [];

  fail(path: string, message: string): undefined {
    this.problems.push({ path, message });
    return undefined;
  }

  /** The object at `path` if it has only `keys` and every required one; else undefined. */
  object(v: unknown, path: string, keys: readonly string[], required: readonly string[] = keys): Json | undefined {
    if (typeof v !== "object" || v === null || Array.isArray(v)) return this.fail(path, "must be an object");
    const o = v as Json;
    let ok = true;
    for (const k of Object.keys(o)) {
      if (!keys.includes(k)) ok = this.fail(`${path}.${k}`, `unknown field (known: ${keys.join(", ")})`) ?? false;
    }
    for (const k of required) if (!(k in o)) ok = this.fail(`${path}.${k}`, "is required") ?? false;
    return ok ? o : undefined;
  }

  array(v: unknown, path: string): unknown[] {
    if (v === undefined) return [];
    if (!Array.isArray(v)) return this.fail(path, "must be an array") ?? [];
    return v;
  }

  string(v: unknown, path: string): string | undefined {
    return typeof v === "string" ? v : this.fail(path, "must be a string");
  }

  /** Runs a registry name check (which throws OUTPOST_BAD_REQUEST) as a problem at `path`. */
  name(v: unknown, path: string, check: (v: unknown) => void): string | undefined {
    try {
      check(v);
      return v as string;
    } catch (err) {
      return this.fail(path, (err as Error).message);
    }
  }

  /** `user:N`, `device:ID` or (when allowed) `group:N`. */
  subject(v: unknown, path: string, groups: boolean): string | undefined {
    const s = this.string(v, path);
    if (s === undefined) return undefined;
    const m = /^(user|device|group):(.*)$/.exec(s);
    if (!m || (m[1] === "group" && !groups)) {
      return this.fail(
        path,
        `invalid member ${JSON.stringify(s)}: use user:NAME, device:ID${groups ? " or group:NAME" : ""}`,
      );
    }
    const check =
      m[1] === "user"
        ? assertOperatorName
        : m[1] === "device"
          ? assertDeviceId
          : (n: unknown) => assertModelName(n, "group");
    return this.name(m[2], path, check) === undefined ? undefined : s;
  }

  /** A list of distinct subjects, in the file's order (so that paths name the file's items). */
  members(v: unknown, path: string, groups: boolean): string[] | undefined {
    const list = this.array(v, path).map((m, i) => this.subject(m, `${path}[${i}]`, groups));
    if (list.some((m) => m === undefined)) return undefined;
    const seen = new Set<string>();
    list.forEach((m, i) => {
      if (seen.has(m!)) this.fail(`${path}[${i}]`, `${m} is listed twice`);
      seen.add(m!);
    });
    return list as string[];
  }
}

/** Items of one section with a key each; a key listed twice is a problem at the second item. */
function keyed<T>(
  r: Reader,
  items: unknown[],
  path: string,
  read: (v: unknown, p: string) => T | undefined,
  key: (t: T) => string,
): T[] {
  const out: T[] = [];
  const seen = new Map<string, number>();
  items.forEach((v, i) => {
    const t = read(v, `${path}[${i}]`);
    if (t === undefined) return;
    const k = key(t);
    const first = seen.get(k);
    if (first !== undefined) r.fail(`${path}[${i}]`, `duplicate of ${path}[${first}]`);
    else seen.set(k, i);
    out.push(t);
  });
  return out;
}

const thingName = (v: unknown) => assertThingName(v);

function readUnits(r: Reader, org: string, v: unknown, path: string): ModelUnit[] {
  const units = keyed(
    r,
    r.array(v, path),
    path,
    (u, p): ModelUnit | undefined => {
      const o = r.object(u, p, ["name", "parent", "members"], ["name", "parent"]);
      if (!o) return undefined;
      const name = r.name(o.name, `${p}.name`, (n) => assertModelName(n, "unit"));
      const parent = o.parent === null ? null : r.name(o.parent, `${p}.parent`, (n) => assertModelName(n, "unit"));
      const members = r.members(o.members, `${p}.members`, true);
      if (name === undefined || parent === undefined || members === undefined) return undefined;
      if ((parent === null) !== (name === org)) {
        return r.fail(
          `${p}.parent`,
          name === org
            ? "the root unit has no parent"
            : "must name a unit (only the root unit, named as the organization, has none)",
        );
      }
      return { name, parent, members };
    },
    (u) => u.name,
  );
  if (!units.some((u) => u.name === org)) r.fail(path, `must hold the root unit ${org}`);
  return units;
}

/** The content of a model file, validated; throws {@link ModelFormatError} naming every problem with its JSON path. */
export function parseModel(text: string): ModelDocument {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ModelFormatError([{ path: "$", message: `not JSON: ${(err as Error).message}` }]);
  }
  const r = new Reader();
  const root = r.object(raw, "$", ["format", ...MODEL_SECTIONS], ["format"]);
  if (!root) throw new ModelFormatError(r.problems);
  if (root.format !== MODEL_FORMAT) {
    throw new ModelFormatError([
      {
        path: "$.format",
        message: `unsupported format ${JSON.stringify(root.format)}: this server reads ${MODEL_FORMAT}`,
      },
    ]);
  }
  const devices = keyed(
    r,
    r.array(root.devices, "$.devices"),
    "$.devices",
    (v, p): ModelDevice | undefined => {
      const o = r.object(v, p, ["id", "description", "disabled"], ["id"]);
      if (!o) return undefined;
      const id = r.name(o.id, `${p}.id`, assertDeviceId);
      const description = o.description === undefined ? "" : r.string(o.description, `${p}.description`);
      const disabled =
        o.disabled === undefined
          ? false
          : typeof o.disabled === "boolean"
            ? o.disabled
            : r.fail(`${p}.disabled`, "must be true or false");
      if (id === undefined || description === undefined || disabled === undefined) return undefined;
      return { id, description, disabled };
    },
    (d) => d.id,
  );
  const users = keyed(
    r,
    r.array(root.users, "$.users"),
    "$.users",
    (v, p): ModelUser | undefined => {
      const o = r.object(v, p, ["name"]);
      const name = o && r.name(o.name, `${p}.name`, assertOperatorName);
      return name === undefined ? undefined : { name };
    },
    (u) => u.name,
  );
  const templates = keyed(
    r,
    r.array(root.templates, "$.templates"),
    "$.templates",
    (v, p): ModelTemplate | undefined => {
      const o = r.object(v, p, ["name", "description", "properties", "services", "events"], ["name"]);
      if (!o) return undefined;
      const name = r.name(o.name, `${p}.name`, assertTemplateName);
      try {
        return name === undefined ? undefined : { name, ...parseTemplateDefinition(o) };
      } catch (err) {
        return r.fail(p, (err as Error).message);
      }
    },
    (t) => t.name,
  );
  const things = keyed(
    r,
    r.array(root.things, "$.things"),
    "$.things",
    (v, p): ModelThing | undefined => {
      const o = r.object(v, p, ["name", "device", "description", "template"], ["name", "device"]);
      if (!o) return undefined;
      const name = r.name(o.name, `${p}.name`, thingName);
      const device = r.name(o.device, `${p}.device`, assertDeviceId);
      const description = o.description === undefined ? "" : r.string(o.description, `${p}.description`);
      const template = o.template === undefined ? "" : r.name(o.template, `${p}.template`, assertTemplateName);
      if (name === undefined || device === undefined || description === undefined || template === undefined)
        return undefined;
      return { name, device, description, ...(template !== "" ? { template } : {}) };
    },
    (t) => t.name,
  );
  const restrictions = keyed(
    r,
    r.array(root.restrictions, "$.restrictions"),
    "$.restrictions",
    (v, p): ModelRestriction | undefined => {
      const o = r.object(v, p, ["device", "thing", "permission"]);
      if (!o) return undefined;
      const device = r.name(o.device, `${p}.device`, assertDeviceId);
      const thing = r.name(o.thing, `${p}.thing`, thingName);
      const permission = isPermission(o.permission)
        ? o.permission
        : r.fail(`${p}.permission`, `invalid permission ${JSON.stringify(o.permission)}`);
      if (device === undefined || thing === undefined || permission === undefined) return undefined;
      return { device, thing, permission };
    },
    (x) => `${x.device}\0${x.thing}\0${x.permission}`,
  );
  const groups = keyed(
    r,
    r.array(root.groups, "$.groups"),
    "$.groups",
    (v, p): ModelGroup | undefined => {
      const o = r.object(v, p, ["name", "description", "members"], ["name"]);
      if (!o) return undefined;
      const name = r.name(o.name, `${p}.name`, (n) => assertModelName(n, "group"));
      const description = o.description === undefined ? "" : r.string(o.description, `${p}.description`);
      const members = r.members(o.members, `${p}.members`, false);
      if (name === undefined || description === undefined || members === undefined) return undefined;
      return { name, description, members };
    },
    (g) => g.name,
  );
  const organizations = keyed(
    r,
    r.array(root.organizations, "$.organizations"),
    "$.organizations",
    (v, p): ModelOrganization | undefined => {
      const o = r.object(v, p, ["name", "description", "units"], ["name"]);
      if (!o) return undefined;
      const name = r.name(o.name, `${p}.name`, (n) => assertModelName(n, "organization"));
      const description = o.description === undefined ? "" : r.string(o.description, `${p}.description`);
      if (name === undefined || description === undefined) return undefined;
      return { name, description, units: readUnits(r, name, o.units ?? [{ name, parent: null }], `${p}.units`) };
    },
    (o) => o.name,
  );
  const entries = keyed(
    r,
    r.array(root.entries, "$.entries"),
    "$.entries",
    (v, p): ModelEntry | undefined => {
      const o = r.object(v, p, ["effect", "subject", "permission", "level"]);
      if (!o) return undefined;
      const effect =
        o.effect === "allow" || o.effect === "deny" ? o.effect : r.fail(`${p}.effect`, "must be allow or deny");
      const subject = r.subject(o.subject, `${p}.subject`, true);
      const permission = isAccessPermission(o.permission)
        ? o.permission
        : r.fail(`${p}.permission`, `invalid permission ${JSON.stringify(o.permission)}`);
      const level = r.name(o.level, `${p}.level`, (l) => {
        if (typeof l !== "string") throw new Error("must be a string");
        const parsed = parseLevel(l);
        if (parsed.level === "instances" || parsed.level === "template") assertTemplateName(parsed.template);
        if (parsed.level === "thing" || parsed.level === "member") assertThingName(parsed.thing);
        if (parsed.level === "device") assertDeviceId(parsed.device);
        if (parsed.level === "member" && !isMemberName(parsed.member))
          throw new Error(`invalid member name ${JSON.stringify(parsed.member)}`);
        if (l === "*") throw new Error('use "things" for every Thing');
      });
      if (effect === undefined || subject === undefined || permission === undefined || level === undefined)
        return undefined;
      return { effect, subject, permission, level };
    },
    (e) => `${e.effect}\0${e.subject}\0${e.permission}\0${e.level}`,
  );
  const visibility = keyed(
    r,
    r.array(root.visibility, "$.visibility"),
    "$.visibility",
    (v, p): ModelVisibility | undefined => {
      const o = r.object(v, p, ["organization", "unit", "entity"]);
      if (!o) return undefined;
      const organization = r.name(o.organization, `${p}.organization`, (n) => assertModelName(n, "organization"));
      const unit = r.name(o.unit, `${p}.unit`, (n) => assertModelName(n, "unit"));
      const entity = r.name(o.entity, `${p}.entity`, (e) => {
        const m = typeof e === "string" ? /^(thing|template|device):(.*)$/.exec(e) : null;
        if (!m) throw new Error(`invalid entity ${JSON.stringify(e)}: use thing:NAME, template:NAME or device:ID`);
        if (m[1] === "thing") assertThingName(m[2]);
        else if (m[1] === "template") assertTemplateName(m[2]);
        else assertDeviceId(m[2]);
      });
      if (organization === undefined || unit === undefined || entity === undefined) return undefined;
      return { organization, unit, entity };
    },
    (x) => `${x.organization}\0${x.unit}\0${x.entity}`,
  );
  if (r.problems.length > 0) throw new ModelFormatError(r.problems);
  return {
    format: MODEL_FORMAT,
    devices,
    users,
    templates,
    things,
    restrictions,
    groups,
    organizations,
    entries,
    visibility,
  };
}

/** The text of a model file: two-space indented JSON with a final newline. */
export function formatModel(doc: ModelDocument): string {
  return `${JSON.stringify(doc, null, 2)}\n`;
}
