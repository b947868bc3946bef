/**
 * Imports a model file into a registry (docs/model-export.md). The merge rule: an item that is
 * missing is added; one that exists with the same content is skipped; one that exists with other
 * content is a conflict, unless `replace` (then the file's content is taken). Nothing is ever
 * removed (a Thing's template never changes: a different one is a conflict). A reference to a
 * user, device, group, template, Thing or unit that is neither in the file nor in
 * the registry is a conflict too. With any conflict nothing is changed; otherwise every change is
 * made in one registry transaction, so a change the registry refuses (a device in
 * Administrators, a design-time entry for a device) undoes all of them.
 */
import { ErrorCode, isOutpostError, OutpostError } from "@outpost/protocol";
import { parseLevel, parseSubject, PREDEFINED_GROUPS } from "../access/model.js";
import type { AsyncRegistry, RegistryTransaction } from "../registry/async-types.js";
import { exportModel } from "./export.js";
import { MODEL_FORMAT, type ModelDocument } from "./format.js";

/** Options of {@link importModel}. */
export interface ImportOptions {
  /** Take the file's content for an item that exists with other content. Default false: a conflict. */
  replace?: boolean;
  /** Check everything, including the registry's own rules, then undo it all. Default false. */
  dryRun?: boolean;
}

/** What the report counts, per kind of item. */
export const IMPORT_SECTIONS = [
  "devices",
  "users",
  "templates",
  "things",
  "restrictions",
  "groups",
  "groupMembers",
  "organizations",
  "units",
  "unitMembers",
  "entries",
  "visibility",
] as const;
export type ImportSection = (typeof IMPORT_SECTIONS)[number];

/** Items added, skipped (already there, the same) and replaced (there with other content, `replace`). */
export interface ImportCounts {
  added: number;
  skipped: number;
  replaced: number;
}

/**
 * Why an import changed nothing: `different` (an item exists with other content), `unknown-reference`
 * (a name that is neither in the file nor in the registry), `refused` (the registry refused the
 * change, e.g. a device in Administrators; `code` is its error code).
 */
export interface ImportConflict {
  /** JSON path of the item in the file, e.g. `$.things[2].device`. */
  path: string;
  kind: "different" | "unknown-reference" | "refused";
  message: string;
  code?: string;
}

/** The outcome of an import. */
export interface ImportReport {
  format: typeof MODEL_FORMAT;
  /** Whether the changes were committed (never with `dryRun` or a conflict). */
  applied: boolean;
  dryRun: boolean;
  replace: boolean;
  counts: Record<ImportSection, ImportCounts>;
  /** Empty when the import is (or, dry, would be) applied. */
  conflicts: ImportConflict[];
}

interface Step {
  path: string;
  run(): unknown;
}

class StepRefused extends Error {
  constructor(
    readonly path: string,
    readonly error: unknown,
  ) {
    super(path);
  }
}

const DRY_RUN = Symbol("dry run");

/**
 * Imports `doc` (from {@link parseModel}) into `registry` by the merge rule above and reports what
 * it added, skipped and replaced, or every conflict (then the registry is as it was). The model is
 * read, compared and written in one transaction of `registry`, so no other change lands between
 * the comparison and the writes (the access model, templates and model writes through the
 * transaction's stores). Throws only when the registry cannot be read or
 * written (nothing is changed then either).
 */
export async function importModel(
  registry: Pick<AsyncRegistry, "transaction">,
  doc: ModelDocument,
  options: ImportOptions = {},
): Promise<ImportReport> {
  const replace = options.replace === true;
  const report: ImportReport = {
    format: MODEL_FORMAT,
    applied: false,
    dryRun: options.dryRun === true,
    replace,
    counts: Object.fromEntries(IMPORT_SECTIONS.map((s) => [s, { added: 0, skipped: 0, replaced: 0 }])) as Record<
      ImportSection,
      ImportCounts
    >,
    conflicts: [],
  };
  try {
    await registry.transaction(async (tx) => {
      const steps = plan(tx, await exportModel(tx), doc, replace, report);
      if (report.conflicts.length > 0) return;
      for (const s of steps) {
        try {
          await s.run();
        } catch (err) {
          throw new StepRefused(s.path, err);
        }
      }
      if (report.dryRun) throw DRY_RUN;
      report.applied = true;
    });
  } catch (err) {
    if (err instanceof StepRefused && isOutpostError(err.error)) {
      report.conflicts.push({ path: err.path, kind: "refused", message: err.error.message, code: err.error.code });
    } else if (err instanceof StepRefused) {
      throw err.error;
    } else if (err !== DRY_RUN) {
      throw err;
    }
  }
  return report;
}

/** The steps that apply `doc`, in dependency order; conflicts go to the report. */
function plan(
  registry: RegistryTransaction,
  cur: ModelDocument,
  doc: ModelDocument,
  replace: boolean,
  report: ImportReport,
): Step[] {
  const access = registry.access;
  const writes = registry.modelWrites;
  const steps: Step[] = [];
  const conflict = (path: string, kind: ImportConflict["kind"], message: string): void => {
    report.conflicts.push({ path, kind, message });
  };
  const add = (section: ImportSection, path: string, run: () => void) => {
    report.counts[section].added++;
    steps.push({ path, run });
  };
  const skip = (section: ImportSection): void => {
    report.counts[section].skipped++;
  };
  const differ = (section: ImportSection, path: string, message: string, run: () => void): void => {
    if (!replace) return conflict(path, "different", `${message} (--replace takes the file's)`);
    report.counts[section].replaced++;
    steps.push({ path, run });
  };

  const devices = new Set([...cur.devices.map((d) => d.id), ...doc.devices.map((d) => d.id)]);
  const users = new Set([...cur.users.map((u) => u.name), ...doc.users.map((u) => u.name)]);
  const things = new Set([...cur.things.map((t) => t.name), ...doc.things.map((t) => t.name)]);
  const templates = new Set([...cur.templates.map((t) => t.name), ...doc.templates.map((t) => t.name)]);
  const groups = new Set([...cur.groups.map((g) => g.name), ...doc.groups.map((g) => g.name)]);
  const units = new Set<string>();
  for (const o of [...cur.organizations, ...doc.organizations])
    for (const u of o.units) units.add(`${o.name}\0${u.name}`);
  const known = (subject: string): boolean => {
    const s = parseSubject(subject);
    return (s.kind === "user" ? users : s.kind === "device" ? devices : groups).has(s.name);
  };
  const unknown = (path: string, subject: string): void =>
    conflict(path, "unknown-reference", `${subject} is neither in the file nor in the registry`);

  const curDevices = new Map(cur.devices.map((d) => [d.id, d]));
  doc.devices.forEach((d, i) => {
    const path = `$.devices[${i}]`;
    const c = curDevices.get(d.id);
    if (!c) {
      add("devices", path, async () => {
        await registry.createDevice(d.id, d.description);
        if (d.disabled) await registry.setDeviceDisabled(d.id, true);
      });
    } else if (c.description === d.description && c.disabled === d.disabled) skip("devices");
    else {
      differ(
        "devices",
        path,
        `device ${d.id} exists with ${JSON.stringify(c)}, the file has ${JSON.stringify(d)}`,
        async () => {
          await writes.setDeviceDescription(d.id, d.description);
          await registry.setDeviceDisabled(d.id, d.disabled);
        },
      );
    }
  });

  const curUsers = new Set(cur.users.map((u) => u.name));
  doc.users.forEach((u, i) => {
    if (curUsers.has(u.name)) skip("users");
    else add("users", `$.users[${i}]`, () => writes.addUser(u.name));
  });

  const curTemplates = new Map(cur.templates.map((t) => [t.name, t]));
  doc.templates.forEach((t, i) => {
    const path = `$.templates[${i}]`;
    const c = curTemplates.get(t.name);
    const { name, ...def } = t;
    if (!c) add("templates", path, () => registry.templates.create(name, def));
    else if (JSON.stringify(c) === JSON.stringify(t)) skip("templates");
    else
      differ("templates", path, `template ${name} exists with another declaration`, () =>
        registry.templates.update(name, def),
      );
  });

  const owners = new Map(cur.things.map((t) => [t.name, t.device]));
  const curThings = new Map(cur.things.map((t) => [t.name, t]));
  doc.things.forEach((t, i) => {
    const path = `$.things[${i}]`;
    if (!devices.has(t.device)) return unknown(`${path}.device`, `device:${t.device}`);
    if (t.template !== undefined && !templates.has(t.template)) {
      return unknown(`${path}.template`, `template:${t.template}`);
    }
    const c = curThings.get(t.name);
    const assign = () => registry.assignThing(t.name, t.device, t.description);
    if (!c) {
      owners.set(t.name, t.device);
      const template = t.template;
      if (template === undefined) add("things", path, assign);
      else {
        add("things", path, () =>
          registry.templates.createThing({ name: t.name, deviceId: t.device, description: t.description, template }),
        );
      }
    } else if (c.template !== t.template) {
      conflict(
        `${path}.template`,
        "refused",
        `Thing ${t.name} is made from ${c.template ?? "no template"}: a Thing's template cannot change`,
      );
    } else if (c.device === t.device && c.description === t.description) skip("things");
    else {
      if (replace) owners.set(t.name, t.device);
      differ(
        "things",
        path,
        `Thing ${t.name} exists with ${JSON.stringify(c)}, the file has ${JSON.stringify(t)}`,
        assign,
      );
    }
  });

  const curRestrictions = new Set(cur.restrictions.map((r) => `${r.device}\0${r.thing}\0${r.permission}`));
  doc.restrictions.forEach((r, i) => {
    const path = `$.restrictions[${i}]`;
    if (curRestrictions.has(`${r.device}\0${r.thing}\0${r.permission}`)) return skip("restrictions");
    if (owners.get(r.thing) !== r.device) {
      return conflict(`${path}.thing`, "unknown-reference", `Thing ${r.thing} is not assigned to device ${r.device}`);
    }
    add("restrictions", path, () => registry.restrict(r.device, r.thing, r.permission));
  });

  const curGroups = new Map(cur.groups.map((g) => [g.name, g]));
  doc.groups.forEach((g, i) => {
    const path = `$.groups[${i}]`;
    const c = curGroups.get(g.name);
    if (!c) add("groups", path, () => access.createGroup(g.name, g.description));
    // The predefined groups' descriptions are the server's, not the model's.
    else if (c.description === g.description || PREDEFINED_GROUPS.includes(g.name)) skip("groups");
    else {
      differ(
        "groups",
        `${path}.description`,
        `group ${g.name} exists with description ${JSON.stringify(c.description)}`,
        () => writes.setGroupDescription(g.name, g.description),
      );
    }
    const members = new Set(c?.members ?? []);
    g.members.forEach((m, j) => {
      const mpath = `${path}.members[${j}]`;
      if (members.has(m)) return skip("groupMembers");
      if (!known(m)) return unknown(mpath, m);
      add("groupMembers", mpath, () => access.addMember(g.name, parseSubject(m)));
    });
  });

  const curOrgs = new Map(cur.organizations.map((o) => [o.name, o]));
  doc.organizations.forEach((o, i) => {
    const path = `$.organizations[${i}]`;
    const c = curOrgs.get(o.name);
    if (!c) add("organizations", path, () => access.createOrganization(o.name, o.description));
    else if (c.description === o.description) skip("organizations");
    else {
      differ(
        "organizations",
        `${path}.description`,
        `organization ${o.name} exists with description ${JSON.stringify(c.description)}`,
        () => writes.setOrganizationDescription(o.name, o.description),
      );
    }
    planUnits(o, c, path);
  });

  function planUnits(
    o: ModelDocument["organizations"][number],
    c: ModelDocument["organizations"][number] | undefined,
    path: string,
  ): void {
    const parents = new Map<string, string | null>(
      (c?.units ?? [{ name: o.name, parent: null }]).map((u) => [u.name, u.parent]),
    );
    const curMembers = new Map((c?.units ?? []).map((u) => [u.name, new Set(u.members)]));
    const pending = o.units
      .map((u, k) => ({ u, k }))
      .filter(({ u, k }) => {
        const upath = `${path}.units[${k}]`;
        const p = parents.get(u.name);
        if (p === undefined) return true;
        if (p === u.parent) skip("units");
        else {
          const parent = u.parent!;
          if (replace) parents.set(u.name, parent);
          differ("units", `${upath}.parent`, `unit ${o.name}/${u.name} exists below ${String(p)}`, () =>
            writes.setUnitParent(o.name, u.name, parent),
          );
        }
        return false;
      });
    // New units are created below units that exist or were created before them.
    let progress = true;
    while (pending.length > 0 && progress) {
      progress = false;
      for (let n = 0; n < pending.length; n++) {
        const { u, k } = pending[n]!;
        if (!parents.has(u.parent!)) continue;
        parents.set(u.name, u.parent);
        add("units", `${path}.units[${k}]`, () => access.createUnit(o.name, u.name, u.parent!));
        pending.splice(n--, 1);
        progress = true;
      }
    }
    for (const { u, k } of pending) unknown(`${path}.units[${k}].parent`, `unit ${o.name}/${String(u.parent)}`);
    // A replaced parent must keep every unit below the root.
    for (const name of parents.keys()) {
      let at: string | null | undefined = name;
      for (let hops = 0; at !== null && at !== undefined && hops <= parents.size; hops++) at = parents.get(at);
      if (at !== null) {
        const k = o.units.findIndex((u) => u.name === name);
        conflict(
          `${path}.units[${Math.max(k, 0)}].parent`,
          "refused",
          `unit ${o.name}/${name} would not be below the root`,
        );
      }
    }
    o.units.forEach((u, k) => {
      const have = curMembers.get(u.name) ?? new Set<string>();
      u.members.forEach((m, j) => {
        const mpath = `${path}.units[${k}].members[${j}]`;
        if (have.has(m)) return skip("unitMembers");
        if (!known(m)) return unknown(mpath, m);
        add("unitMembers", mpath, () => access.addUnitMember(o.name, u.name, parseSubject(m)));
      });
    });
  }

  const curEntries = new Set(cur.entries.map((e) => `${e.effect}\0${e.subject}\0${e.permission}\0${e.level}`));
  doc.entries.forEach((e, i) => {
    const path = `$.entries[${i}]`;
    if (curEntries.has(`${e.effect}\0${e.subject}\0${e.permission}\0${e.level}`)) return skip("entries");
    if (!known(e.subject)) return unknown(`${path}.subject`, e.subject);
    const level = parseLevel(e.level);
    if ((level.level === "thing" || level.level === "member") && !things.has(level.thing)) {
      return unknown(`${path}.level`, `thing:${level.thing}`);
    }
    if (level.level === "device" && !devices.has(level.device))
      return unknown(`${path}.level`, `device:${level.device}`);
    if ((level.level === "instances" || level.level === "template") && !templates.has(level.template)) {
      return unknown(`${path}.level`, `template:${level.template}`);
    }
    add("entries", path, () => access.addEntry(e.effect, parseSubject(e.subject), e.permission, level));
  });

  const curVisibility = new Set(cur.visibility.map((v) => `${v.organization}\0${v.unit}\0${v.entity}`));
  doc.visibility.forEach((v, i) => {
    const path = `$.visibility[${i}]`;
    if (curVisibility.has(`${v.organization}\0${v.unit}\0${v.entity}`)) return skip("visibility");
    if (!units.has(`${v.organization}\0${v.unit}`)) return unknown(`${path}.unit`, `unit ${v.organization}/${v.unit}`);
    const [kind, name] = [v.entity.slice(0, v.entity.indexOf(":")), v.entity.slice(v.entity.indexOf(":") + 1)] as [
      "thing" | "template" | "device",
      string,
    ];
    if (!(kind === "thing" ? things : kind === "template" ? templates : devices).has(name)) {
      return unknown(`${path}.entity`, v.entity);
    }
    add("visibility", path, () => access.grantVisibility(v.organization, v.unit, kind, name));
  });
  return steps;
}

/** An import that changed nothing because of conflicts (OUTPOST_CONFLICT, 409); `report` lists them. */
export class ModelImportError extends OutpostError {
  readonly report: ImportReport;
  constructor(report: ImportReport) {
    const first = report.conflicts[0];
    super(
      ErrorCode.Conflict,
      `import refused, nothing changed: ${report.conflicts.length} conflict(s)${first ? `, first ${first.path}: ${first.message}` : ""}`,
      { status: 409 },
    );
    this.report = report;
  }
}
