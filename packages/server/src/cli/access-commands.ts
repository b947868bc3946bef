import { ErrorCode, OutpostError } from "@outpost/protocol";
import { Command } from "commander";
import {
  type AccessEntry,
  type AccessPermission,
  type Decision,
  isAccessPermission,
  levelText,
  parseLevel,
  parseSubject,
  type Subject,
  subjectKey,
} from "../access/model.js";
import { explainAccess, parseExplainTarget } from "../access/explain.js";
import type { AsyncStores } from "../registry/async-types.js";
import { type DataContext, withData, withDataDir } from "./util.js";

type Opts = Record<string, string | boolean | undefined> & { data: string };
/** The access model through the registry's asynchronous contract (the registry or a transaction). */
type Access = AsyncStores["access"];
type Answer<T> = T | Promise<T>;

/** Prints `value` as JSON with --json, else the text lines. */
function out(o: Opts, value: unknown, text: () => string[]): void {
  if (o.json) console.log(JSON.stringify(value, null, 2));
  else for (const line of text()) console.log(line);
}

/** An entry as one line: `#3 deny group:Operators property.write thing:pump#speed`. */
export function entryLine(e: AccessEntry): string {
  const id = e.id === 0 ? `(${e.origin})` : `#${e.id}`;
  return `${id}\t${e.effect}\t${subjectKey(e.subject)}\t${e.permission}\t${levelText(e.target)}`;
}

/** The decision and every entry that produced it, as lines. */
export function decisionLines(d: Decision): string[] {
  return [
    `${d.allowed ? "ALLOWED" : "DENIED"} (${d.reason})`,
    `groups: ${d.groups.join(", ") || "-"}`,
    ...(d.level !== undefined ? [`level: ${d.level} (what every Thing made from the template inherits)`] : []),
    ...(d.visibility !== undefined ? [`visible: ${d.visibility}`] : []),
    ...d.entries.map(entryLine),
  ];
}

function permissionArg(p: string): AccessPermission {
  if (!isAccessPermission(p)) throw new OutpostError(ErrorCode.BadRequest, `invalid permission ${JSON.stringify(p)}`);
  return p;
}

/** Runs one change of the access model and records it (who, what, before and after) in the audit log. */
async function change<T>(
  o: Opts,
  what: { target: string; action: string; before?: (a: Access) => Answer<unknown> },
  run: (a: Access, ctx: DataContext) => Answer<T>,
  after: (a: Access, result: T) => Answer<unknown>,
  text: (result: T) => string,
): Promise<void> {
  await withDataDir(o.data, async (ctx) => {
    // Before, change and after in one transaction: no other process's change lands between them.
    const { before, result, now } = await ctx.registry.transaction(async (tx) => {
      const a = tx.access;
      const before = (await what.before?.(a)) ?? null;
      const result = await run(a, ctx);
      return { before, result, now: (await after(a, result)) ?? null };
    });
    ctx.record(what.target, what.action, { before, after: now });
    out(o, { action: what.action, target: what.target, before, after: now }, () => [text(result)]);
  });
}

const groupOf = async (a: Access, name: string) => (await a.getGroup(name)) ?? null;
const unitOf = async (a: Access, org: string, unit: string) =>
  (await a.listUnits(org)).find((u) => u.name === unit) ?? null;

/** `access ...`: groups, memberships, permission entries, organizations, units, visibility, explain. */
export function accessCommand(): Command {
  const access = new Command("access").description("manage the access model (docs/access.md)");
  const json = (c: Command) => withData(c).option("--json", "print JSON");

  json(access.command("explain <principal> <target> <permission>"))
    .description(
      "print the decision for user:NAME or device:ID on a Thing (device id for device permissions), on template:NAME or at instances:NAME (what the Things made from it inherit) and every entry that produced it",
    )
    .option("--member <name>", "one property, service or event of the Thing")
    .option("--group <names>", "comma-separated groups from a directory login, counted like stored ones")
    .action(async (principal: string, target: string, permission: string, o: Opts) => {
      const s = parseSubject(principal);
      if (s.kind === "group") throw new OutpostError(ErrorCode.BadRequest, "explain asks about a user or a device");
      const groups = typeof o.group === "string" ? o.group.split(",").filter((g) => g.length > 0) : [];
      await withDataDir(o.data, async ({ registry }) => {
        const d = await explainAccess(
          registry.access,
          {
            kind: s.kind === "device" ? "device" : "operator",
            id: s.name,
            ...(groups.length ? { groups } : {}),
          },
          permissionArg(permission),
          parseExplainTarget(target),
          typeof o.member === "string" ? o.member : undefined,
        );
        out(o, d, () => decisionLines(d));
      });
    });

  const group = access.command("group").description("user groups");
  json(group.command("list"))
    .description("list groups and their members")
    .action(async (o: Opts) => {
      await withDataDir(o.data, async ({ registry }) => {
        const groups = await registry.access.listGroups();
        out(o, { groups }, () =>
          groups.map(
            (g) => `${g.name}\t${g.predefined ? "predefined" : "-"}\t${g.members.map(subjectKey).join(",") || "-"}`,
          ),
        );
      });
    });
  json(group.command("add <name>"))
    .description("create a group")
    .option("--description <text>", "free text")
    .action((name: string, o: Opts) =>
      change(
        o,
        { target: `group:${name}`, action: "group.add" },
        (a) => a.createGroup(name, (o.description as string | undefined) ?? ""),
        (a) => groupOf(a, name),
        () => `group ${name} created`,
      ),
    );
  json(group.command("remove <name>"))
    .description("remove a group with its memberships and entries")
    .action((name: string, o: Opts) =>
      change(
        o,
        { target: `group:${name}`, action: "group.remove", before: (a) => groupOf(a, name) },
        (a) => a.deleteGroup(name),
        () => null,
        () => `group ${name} removed`,
      ),
    );
  for (const [verb, add] of [
    ["add-member", true],
    ["remove-member", false],
  ] as const) {
    json(group.command(`${verb} <group> <member>`))
      .description(`${add ? "add" : "remove"} a member (user:NAME or device:ID) ${add ? "to" : "from"} a group`)
      .action((name: string, member: string, o: Opts) => {
        const m: Subject = parseSubject(member);
        return change(
          o,
          {
            target: `group:${name}`,
            action: add ? "group.member.add" : "group.member.remove",
            before: (a) => groupOf(a, name),
          },
          (a) => (add ? a.addMember(name, m) : a.removeMember(name, m)),
          (a) => groupOf(a, name),
          (changed) =>
            `${subjectKey(m)} ${changed ? (add ? "added to" : "removed from") : add ? "already in" : "was not in"} ${name}`,
        );
      });
  }

  json(access.command("entries"))
    .description("list the stored permission entries")
    .option("--subject <subject>", "only those of user:NAME, device:ID or group:NAME")
    .action(async (o: Opts) => {
      await withDataDir(o.data, async ({ registry }) => {
        const entries = await registry.access.listEntries(
          typeof o.subject === "string" ? parseSubject(o.subject) : undefined,
        );
        out(o, { entries }, () => entries.map(entryLine));
      });
    });
  for (const effect of ["allow", "deny"] as const) {
    json(access.command(`${effect} <subject> <permission> <level>`))
      .description(
        `add ${effect === "allow" ? "an Allow" : "a Deny"} entry: subject user:NAME, device:ID or group:NAME; level things, devices, thing:NAME, device:ID or thing:NAME#MEMBER`,
      )
      .action((subject: string, permission: string, level: string, o: Opts) => {
        const s = parseSubject(subject);
        return change(
          o,
          { target: subjectKey(s), action: `permission.${effect}` },
          (a) => a.addEntry(effect, s, permissionArg(permission), parseLevel(level)),
          (_a, e) => e,
          (e) => `entry ${entryLine(e)}`,
        );
      });
  }
  json(access.command("remove-entry <id>"))
    .description("remove one permission entry by its id (see access entries)")
    .action((id: string, o: Opts) =>
      change(
        o,
        {
          target: `entry:${id}`,
          action: "permission.remove",
          before: async (a) => (await a.listEntries()).find((e) => e.id === Number(id)),
        },
        async (a) => {
          const removed = await a.removeEntry(Number(id));
          if (!removed) throw new OutpostError(ErrorCode.NotFound, `entry ${id} not found`);
          return removed;
        },
        () => null,
        (e) => `entry removed: ${entryLine(e)}`,
      ),
    );

  const org = access.command("org").description("organizations and their units");
  json(org.command("list"))
    .description("list organizations, their units, unit members and visibility")
    .action(async (o: Opts) => {
      await withDataDir(o.data, async ({ registry }) => {
        const [organizations, visibility] = await Promise.all([
          registry.access.listOrganizations(),
          registry.access.listVisibility(),
        ]);
        out(o, { organizations, visibility }, () => [
          ...organizations.flatMap((x) =>
            x.units.map(
              (u) => `${x.name}/${u.name}\tparent ${u.parent ?? "-"}\t${u.members.map(subjectKey).join(",") || "-"}`,
            ),
          ),
          ...visibility.map((v) => `visible ${v.entity.kind}:${v.entity.name} to ${v.organization}/${v.unit}`),
        ]);
      });
    });
  json(org.command("add <name>"))
    .description("create an organization with its root unit (the first one turns visibility on)")
    .action((name: string, o: Opts) =>
      change(
        o,
        { target: `organization:${name}`, action: "organization.add" },
        (a) => a.createOrganization(name),
        async (a) => (await a.listOrganizations()).find((x) => x.name === name),
        () => `organization ${name} created`,
      ),
    );
  json(org.command("remove <name>"))
    .description("remove an organization with its units")
    .action((name: string, o: Opts) =>
      change(
        o,
        {
          target: `organization:${name}`,
          action: "organization.remove",
          before: async (a) => (await a.listOrganizations()).find((x) => x.name === name),
        },
        (a) => a.deleteOrganization(name),
        () => null,
        () => `organization ${name} removed`,
      ),
    );
  json(org.command("add-unit <org> <unit>"))
    .description("add a unit below --parent (default: the root unit)")
    .option("--parent <unit>", "parent unit")
    .action((name: string, unit: string, o: Opts) =>
      change(
        o,
        { target: `unit:${name}/${unit}`, action: "unit.add" },
        (a) => a.createUnit(name, unit, (o.parent as string | undefined) ?? name),
        (a) => unitOf(a, name, unit),
        () => `unit ${name}/${unit} created`,
      ),
    );
  json(org.command("remove-unit <org> <unit>"))
    .description("remove a unit that has no units below it")
    .action((name: string, unit: string, o: Opts) =>
      change(
        o,
        { target: `unit:${name}/${unit}`, action: "unit.remove", before: (a) => unitOf(a, name, unit) },
        (a) => a.deleteUnit(name, unit),
        () => null,
        () => `unit ${name}/${unit} removed`,
      ),
    );
  for (const [verb, add] of [
    ["add-member", true],
    ["remove-member", false],
  ] as const) {
    json(org.command(`${verb} <org> <unit> <member>`))
      .description(`${add ? "add" : "remove"} a member (user:NAME, device:ID or group:NAME) of a unit`)
      .action((name: string, unit: string, member: string, o: Opts) => {
        const m = parseSubject(member);
        return change(
          o,
          {
            target: `unit:${name}/${unit}`,
            action: add ? "unit.member.add" : "unit.member.remove",
            before: (a) => unitOf(a, name, unit),
          },
          (a) => (add ? a.addUnitMember(name, unit, m) : a.removeUnitMember(name, unit, m)),
          (a) => unitOf(a, name, unit),
          () => `${subjectKey(m)} ${add ? "is a member of" : "is no longer a member of"} ${name}/${unit}`,
        );
      });
  }
  for (const [verb, grant] of [
    ["show", true],
    ["hide", false],
  ] as const) {
    json(org.command(`${verb} <org> <unit> <entity>`))
      .description(
        `${grant ? "make" : "stop making"} thing:NAME, template:NAME or device:ID visible to a unit (and the units above it)`,
      )
      .action((name: string, unit: string, entity: string, o: Opts) => {
        const m = /^(thing|template|device):(.+)$/.exec(entity);
        if (!m)
          throw new OutpostError(
            ErrorCode.BadRequest,
            `invalid entity ${JSON.stringify(entity)}: use thing:NAME, template:NAME or device:ID`,
          );
        const kind = m[1] as "thing" | "template" | "device";
        return change(
          o,
          { target: `${kind}:${m[2]}`, action: grant ? "visibility.grant" : "visibility.revoke" },
          (a) => (grant ? a.grantVisibility(name, unit, kind, m[2]!) : a.revokeVisibility(name, unit, kind, m[2]!)),
          () => ({ organization: name, unit, visible: grant }),
          () => `${entity} ${grant ? "visible to" : "no longer visible to"} ${name}/${unit}`,
        );
      });
  }
  return access;
}
