import { ErrorCode, OutpostError } from "@outpost/protocol";
import type Database from "better-sqlite3";
import {
  assertTemplateName,
  secretNames,
  type TemplateDefinition,
  type ThingTemplate,
  valueHasType,
} from "../templates/model.js";
import { assertDeviceId, assertThingName, isMemberName } from "./names.js";
import { type ThingRow, thingFromRow } from "./rows.js";
import type { SecretValues } from "./secret-values.js";
import type { PropertyState, ThingRecord } from "./types.js";

/** What a Thing is made of when it is created (docs/templates.md). */
export interface CreateThingInput {
  name: string;
  deviceId: string;
  /** The template it is made from; its declared properties then bound `properties`. */
  template?: string;
  description?: string;
  /** Initial kept values (JSON forms), by property name; secret ones are stored encrypted. */
  properties?: Record<string, unknown>;
}

interface TemplateRow {
  name: string;
  description: string;
  definition_json: string;
  created_at: number;
  updated_at: number;
}

function templateFromRow(r: TemplateRow): ThingTemplate {
  const def = JSON.parse(r.definition_json) as Omit<TemplateDefinition, "description">;
  return {
    name: r.name,
    description: r.description,
    properties: def.properties,
    services: def.services,
    events: def.events,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

const notFound = (what: string, name: string) =>
  new OutpostError(ErrorCode.NotFound, `${what} ${name} not found`, { status: 404 });
const conflict = (message: string) => new OutpostError(ErrorCode.Conflict, message, { status: 409 });

/**
 * Thing templates on the registry's database (tables of registry/templates-schema.ts), and the
 * creation and removal of Things with what hangs on them. Every change clears the access
 * decisions and the secret-property map (`changed`). Methods throw OUTPOST_BAD_REQUEST for an
 * invalid name or definition, OUTPOST_NOT_FOUND for a missing template, device or Thing,
 * OUTPOST_CONFLICT for an existing one (or a template still in use); nothing is changed then.
 */
export class SqliteTemplates {
  readonly #db: Database.Database;
  readonly #now: () => number;
  readonly #secrets: SecretValues;
  readonly #changed: () => void;
  readonly #setProperties: (states: readonly PropertyState[]) => void;

  constructor(
    db: Database.Database,
    deps: {
      now: () => number;
      secrets: SecretValues;
      changed: () => void;
      setProperties: (states: readonly PropertyState[]) => void;
    },
  ) {
    this.#db = db;
    this.#now = deps.now;
    this.#secrets = deps.secrets;
    this.#changed = deps.changed;
    this.#setProperties = deps.setProperties;
  }

  list(): ThingTemplate[] {
    return (this.#db.prepare("SELECT * FROM thing_templates ORDER BY name").all() as TemplateRow[]).map(
      templateFromRow,
    );
  }

  get(name: string): ThingTemplate | undefined {
    const row = this.#db.prepare("SELECT * FROM thing_templates WHERE name = ?").get(name) as TemplateRow | undefined;
    return row && templateFromRow(row);
  }

  /** Names of the Things made from `template`. */
  instances(template: string): string[] {
    return this.#db
      .prepare("SELECT name FROM things WHERE template = ? ORDER BY name")
      .pluck()
      .all(template) as string[];
  }

  /** Stores a new template; a name in use is OUTPOST_CONFLICT. `def` must come from parseTemplateDefinition. */
  create(name: string, def: TemplateDefinition): ThingTemplate {
    assertTemplateName(name);
    const now = this.#now();
    const r = this.#db
      .prepare(
        "INSERT OR IGNORE INTO thing_templates (name, description, definition_json, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
      )
      .run(name, def.description, definitionJson(def), now, now);
    if (r.changes === 0) throw conflict(`template ${name} already exists`);
    this.#done();
    return this.get(name)!;
  }

  /**
   * Replaces a template's declaration. The stored values of its Things follow: a property made
   * secret has its kept and desired values encrypted, one no longer secret decrypted, in the
   * same transaction.
   */
  update(name: string, def: TemplateDefinition): { before: ThingTemplate; after: ThingTemplate } {
    const before = this.get(name);
    if (!before) throw notFound("template", name);
    this.#db.transaction(() => {
      this.#db
        .prepare("UPDATE thing_templates SET description = ?, definition_json = ?, updated_at = ? WHERE name = ?")
        .run(def.description, definitionJson(def), this.#now(), name);
      const secrets = secretNames(def);
      for (const thing of this.instances(name)) this.#secrets.reconcile(thing, secrets);
    })();
    this.#done();
    return { before, after: this.get(name)! };
  }

  /** Removes a template with its entries and visibility. One that Things are still made from is OUTPOST_CONFLICT. */
  delete(name: string): ThingTemplate {
    const t = this.get(name);
    if (!t) throw notFound("template", name);
    const used = this.instances(name);
    if (used.length > 0) {
      throw conflict(`template ${name} is in use by ${used.length} Thing(s), e.g. ${used[0]}: remove them first`);
    }
    this.#db.transaction(() => {
      this.#db.prepare("DELETE FROM access_entries WHERE level IN ('template', 'instances') AND target = ?").run(name);
      this.#db.prepare("DELETE FROM visibility WHERE entity_kind = 'template' AND entity_name = ?").run(name);
      this.#db.prepare("DELETE FROM thing_templates WHERE name = ?").run(name);
    })();
    this.#done();
    return t;
  }

  /**
   * Creates a Thing assigned to a device, made from a template when one is given, with initial
   * kept values. With a template, every initial value must be of a declared property and of its
   * type. A Thing name in use is OUTPOST_CONFLICT.
   */
  createThing(input: CreateThingInput): ThingRecord {
    const { name, deviceId } = input;
    assertThingName(name);
    assertDeviceId(deviceId);
    const template = input.template === undefined ? undefined : this.get(input.template);
    if (input.template !== undefined && !template) throw notFound("template", input.template);
    const values = Object.entries(input.properties ?? {});
    for (const [prop, value] of values) {
      if (!isMemberName(prop))
        throw new OutpostError(ErrorCode.BadRequest, `invalid property name ${JSON.stringify(prop)}`);
      if (!template) continue;
      const declared = template.properties.find((p) => p.name === prop);
      if (!declared) {
        throw new OutpostError(ErrorCode.BadRequest, `template ${template.name} declares no property ${prop}`);
      }
      if (!valueHasType(declared.type, value)) {
        throw new OutpostError(ErrorCode.BadRequest, `property ${prop} must be of type ${declared.type}`);
      }
    }
    this.#db.transaction(() => {
      if (!this.#db.prepare("SELECT 1 FROM devices WHERE id = ?").get(deviceId)) throw notFound("device", deviceId);
      const r = this.#db
        .prepare("INSERT OR IGNORE INTO things (name, device_id, description, template) VALUES (?, ?, ?, ?)")
        .run(name, deviceId, String(input.description ?? ""), template?.name ?? null);
      if (r.changes === 0) throw conflict(`Thing ${name} already exists`);
      this.#done();
      const now = this.#now();
      this.#setProperties(
        values.map(([prop, value]) => ({
          thing: name,
          name: prop,
          value,
          timestampMs: now,
          quality: "good",
          receivedAt: now,
        })),
      );
    })();
    return this.getThing(name)!;
  }

  /** Removes a Thing with its kept and desired values, its entries, visibility and restrictions. */
  deleteThing(name: string): ThingRecord {
    const thing = this.getThing(name);
    if (!thing) throw notFound("Thing", name);
    this.#db.transaction(() => {
      for (const sql of [
        "DELETE FROM properties WHERE thing = ?",
        "DELETE FROM desired_properties WHERE thing = ?",
        "DELETE FROM access_entries WHERE level IN ('thing', 'member') AND target = ?",
        "DELETE FROM visibility WHERE entity_kind = 'thing' AND entity_name = ?",
        "DELETE FROM restrictions WHERE thing = ?",
        "DELETE FROM things WHERE name = ?",
      ]) {
        this.#db.prepare(sql).run(name);
      }
    })();
    this.#done();
    return thing;
  }

  /** Changes a Thing's description; returns the record after. */
  describeThing(name: string, description: string): ThingRecord {
    if (this.#db.prepare("UPDATE things SET description = ? WHERE name = ?").run(description, name).changes === 0) {
      throw notFound("Thing", name);
    }
    return this.getThing(name)!;
  }

  getThing(name: string): ThingRecord | undefined {
    const row = this.#db.prepare("SELECT * FROM things WHERE name = ?").get(name) as ThingRow | undefined;
    return row && thingFromRow(row);
  }

  #done(): void {
    this.#secrets.changed();
    this.#changed();
  }
}

function definitionJson(def: TemplateDefinition): string {
  return JSON.stringify({ properties: def.properties, services: def.services, events: def.events });
}
