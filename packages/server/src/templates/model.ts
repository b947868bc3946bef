/**
 * Thing templates (docs/templates.md): a named declaration of properties, services and events
 * that Things are made from. Pure data and validation; the registry stores templates
 * (registry/templates-sql.ts).
 */
import { ErrorCode, OutpostError } from "@outpost/protocol";
import { isMemberName } from "../registry/names.js";

/** The value types a template property can declare (the JSON forms of the wire values). */
export const PROPERTY_TYPES = ["boolean", "integer", "number", "string", "bytes", "json"] as const;
export type PropertyType = (typeof PROPERTY_TYPES)[number];

/** One property a template declares. */
export interface TemplateProperty {
  name: string;
  type: PropertyType;
  /** Whether operators may write it (property.write still decides who). Default true. */
  writable: boolean;
  /**
   * Whether its value is a secret: stored AES-256-GCM encrypted in the registry under the
   * server's data key, and shown as `<secret>` in the audit log (docs/security.md). Default false.
   */
  secret: boolean;
  description: string;
}

/** One service or event a template declares. */
export interface TemplateMember {
  name: string;
  description: string;
}

/** A Thing template as stored. */
export interface ThingTemplate {
  name: string;
  description: string;
  properties: TemplateProperty[];
  services: TemplateMember[];
  events: TemplateMember[];
  createdAt: number;
  updatedAt: number;
}

/** What a template declares, as given to create or replace it. */
export type TemplateDefinition = Pick<ThingTemplate, "description" | "properties" | "services" | "events">;

/** What the audit log shows instead of a secret value. */
export const SECRET_MASK = "<secret>";

const TEMPLATE_NAME = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$/;
const MAX_MEMBERS = 1024;

const bad = (message: string) => new OutpostError(ErrorCode.BadRequest, message);

/** Throws OUTPOST_BAD_REQUEST unless `name` is a valid template name. */
export function assertTemplateName(name: unknown): asserts name is string {
  if (typeof name !== "string" || !TEMPLATE_NAME.test(name)) {
    throw bad(
      `invalid template name ${JSON.stringify(name)}: use 1-128 of A-Z a-z 0-9 . _ : / - starting with a letter or digit`,
    );
  }
}

function text(v: unknown, what: string): string {
  if (v === undefined) return "";
  if (typeof v !== "string" || v.length > 1024) throw bad(`${what} must be a string of at most 1024 characters`);
  return v;
}

function flag(v: unknown, what: string, fallback: boolean): boolean {
  if (v === undefined) return fallback;
  if (typeof v !== "boolean") throw bad(`${what} must be true or false`);
  return v;
}

function members<T>(v: unknown, what: string, parse: (item: Record<string, unknown>, at: string) => T): T[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw bad(`${what} must be an array`);
  if (v.length > MAX_MEMBERS) throw bad(`${what} holds more than ${MAX_MEMBERS} items`);
  const seen = new Set<string>();
  return v.map((item: unknown, i) => {
    const at = `${what}[${i}]`;
    if (item === null || typeof item !== "object" || Array.isArray(item)) throw bad(`${at} must be an object`);
    const name = (item as { name?: unknown }).name;
    if (typeof name !== "string" || !isMemberName(name)) {
      throw bad(`${at}.name ${JSON.stringify(name)} is not a valid name (1-128 of A-Z a-z 0-9 . _ : / -)`);
    }
    if (seen.has(name)) throw bad(`${what} declares ${name} twice`);
    seen.add(name);
    return parse(item as Record<string, unknown>, at);
  });
}

/**
 * Checks a template definition given by a user (CLI file, API body) and returns it with every
 * default filled in. Unknown fields and bad values are OUTPOST_BAD_REQUEST naming the field.
 */
export function parseTemplateDefinition(input: unknown): TemplateDefinition {
  if (input === null || typeof input !== "object" || Array.isArray(input)) {
    throw bad("a template definition must be a JSON object");
  }
  const o = input as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!["name", "description", "properties", "services", "events"].includes(k)) {
      throw bad(`unknown template field ${JSON.stringify(k)}`);
    }
  }
  return {
    description: text(o.description, "description"),
    properties: members(o.properties, "properties", (p, at) => {
      if (!(PROPERTY_TYPES as readonly unknown[]).includes(p.type)) {
        throw bad(`${at}.type must be one of ${PROPERTY_TYPES.join(", ")}`);
      }
      return {
        name: p.name as string,
        type: p.type as PropertyType,
        writable: flag(p.writable, `${at}.writable`, true),
        secret: flag(p.secret, `${at}.secret`, false),
        description: text(p.description, `${at}.description`),
      };
    }),
    services: members(o.services, "services", (s, at) => ({
      name: s.name as string,
      description: text(s.description, `${at}.description`),
    })),
    events: members(o.events, "events", (e, at) => ({
      name: e.name as string,
      description: text(e.description, `${at}.description`),
    })),
  };
}

/** Whether `value` (in its JSON form) has the declared type. */
export function valueHasType(type: PropertyType, value: unknown): boolean {
  switch (type) {
    case "boolean":
      return typeof value === "boolean";
    case "integer":
      return typeof value === "number" && Number.isSafeInteger(value);
    case "number":
      return typeof value === "number" && Number.isFinite(value);
    case "string":
      return typeof value === "string";
    case "bytes": {
      const b = value as { $bytes?: unknown } | null;
      return b !== null && typeof b === "object" && typeof b.$bytes === "string";
    }
    case "json":
      return value !== undefined;
  }
}

/** The names of the template's secret properties. */
export function secretNames(t: Pick<ThingTemplate, "properties">): Set<string> {
  return new Set(t.properties.filter((p) => p.secret).map((p) => p.name));
}

/** A copy of `values` with the value of every secret property replaced by {@link SECRET_MASK}. */
export function maskSecrets(values: Record<string, unknown>, secrets: ReadonlySet<string>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, secrets.has(k) ? SECRET_MASK : v]));
}

/**
 * Refuses an operator's write that the Thing's template does not allow: a property declared
 * read-only (`writable: false`), or a value not of the declared type (OUTPOST_BAD_REQUEST).
 * Properties the template does not declare, and Things made from no template, are not checked.
 */
export function checkWrite(t: ThingTemplate | undefined, thing: string, name: string, value: unknown): void {
  const declared = t?.properties.find((p) => p.name === name);
  if (!t || !declared) return;
  if (!declared.writable) throw bad(`property ${name} of Thing ${thing} is read-only (template ${t.name})`);
  if (!valueHasType(declared.type, value)) throw bad(`property ${name} must be of type ${declared.type}`);
}
