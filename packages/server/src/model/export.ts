/** Reads the model (docs/model-export.md) out of a registry: everything but secrets, in a stable order. */
import { levelText, subjectKey } from "../access/model.js";
import type { AsyncRegistryMethods, AsyncStores } from "../registry/async-types.js";
import type { Permission } from "../registry/types.js";
import { MODEL_FORMAT, type ModelDocument, type ModelEntry, type ModelRestriction } from "./format.js";

/** What an export reads through the registry's asynchronous contract (the registry or a transaction on it). */
export type ModelReads = Pick<AsyncRegistryMethods, "listDevices" | "listOperators" | "listThings"> &
  Pick<AsyncStores, "access" | "templates">;

const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * What {@link exportModel} leaves out of the model, by kind, with how many: nothing today (every
 * part of the model is in outpost-model/1, templates included); secrets and values are never model.
 */
export function omittedFromModel(): Record<string, number> {
  return {};
}

/**
 * The registry's model as a {@link ModelDocument}: devices (no keys, no certificates), users (no
 * password hashes, no tokens), Things, restrictions, groups, organizations, stored entries and
 * visibility. Two exports of the same model are equal; entry ids and timestamps are left out.
 * Throws when the registry cannot be read.
 */
export async function exportModel(registry: ModelReads): Promise<ModelDocument> {
  const access = registry.access;
  const [thingRecords, deviceRecords, operatorRecords, snapshot, templateRecords, entryRecords, groups, orgs, visible] =
    await Promise.all([
      registry.listThings(),
      registry.listDevices(),
      registry.listOperators(),
      access.snapshot(),
      registry.templates.list(),
      access.listEntries(),
      access.listGroups(),
      access.listOrganizations(),
      access.listVisibility(),
    ]);
  const things = thingRecords.map((t) => ({
    name: t.name,
    device: t.deviceId,
    description: t.description,
    ...(t.template !== undefined ? { template: t.template } : {}),
  }));
  const templates = templateRecords.map((t) => ({
    name: t.name,
    description: t.description,
    properties: t.properties,
    services: t.services,
    events: t.events,
  }));
  const restrictions: ModelRestriction[] = [];
  for (const key of snapshot.restrictions) {
    const [device, thing, permission] = key.split("\0") as [string, string, Permission];
    // A restriction only counts while the Thing is the device's own (a reassigned Thing drops it).
    if (snapshot.owners.get(thing) === device) restrictions.push({ device, thing, permission });
  }
  restrictions.sort((a, b) =>
    byText(`${a.device}\0${a.thing}\0${a.permission}`, `${b.device}\0${b.thing}\0${b.permission}`),
  );
  const entries: ModelEntry[] = entryRecords.map((e) => ({
    effect: e.effect,
    subject: subjectKey(e.subject),
    permission: e.permission,
    level: levelText(e.target),
  }));
  entries.sort((a, b) =>
    byText(
      `${a.subject}\0${a.permission}\0${a.level}\0${a.effect}`,
      `${b.subject}\0${b.permission}\0${b.level}\0${b.effect}`,
    ),
  );
  return {
    format: MODEL_FORMAT,
    devices: deviceRecords
      .map((d) => ({ id: d.id, description: d.description, disabled: d.disabled }))
      .sort((a, b) => byText(a.id, b.id)),
    users: operatorRecords.map((o) => ({ name: o.name })).sort((a, b) => byText(a.name, b.name)),
    templates: templates.sort((a, b) => byText(a.name, b.name)),
    things: things.sort((a, b) => byText(a.name, b.name)),
    restrictions,
    groups: groups.map((g) => ({
      name: g.name,
      description: g.description,
      members: g.members.map(subjectKey).sort(byText),
    })),
    organizations: orgs.map((o) => ({
      name: o.name,
      description: o.description,
      units: o.units.map((u) => ({ name: u.name, parent: u.parent, members: u.members.map(subjectKey).sort(byText) })),
    })),
    entries,
    visibility: visible.map((v) => ({
      organization: v.organization,
      unit: v.unit,
      entity: `${v.entity.kind}:${v.entity.name}`,
    })),
  };
}

/** How many items each section of a model holds. */
export function modelCounts(doc: ModelDocument): Record<string, number> {
  return {
    devices: doc.devices.length,
    users: doc.users.length,
    templates: doc.templates.length,
    things: doc.things.length,
    restrictions: doc.restrictions.length,
    groups: doc.groups.length,
    organizations: doc.organizations.length,
    units: doc.organizations.reduce((n, o) => n + o.units.length, 0),
    entries: doc.entries.length,
    visibility: doc.visibility.length,
  };
}
