import { ErrorCode, OutpostError } from "@outpost/protocol";
import { Command } from "commander";
import { loadDataKey } from "../secrets/data-key.js";
import { rotateDataKey } from "../secrets/rotate.js";
import { keyId } from "../secrets/secret-box.js";
import {
  maskSecrets,
  parseTemplateDefinition,
  PROPERTY_TYPES,
  type TemplateDefinition,
  type ThingTemplate,
} from "../templates/model.js";
import { readInputFile, withData, withDataDir } from "./util.js";

type Opts = Record<string, string | string[] | boolean | undefined> & { data: string };

const json = (cmd: Command) => withData(cmd).option("--json", "print JSON");
const collect = (v: string, all: string[] = []) => [...all, v];

function out(o: Opts, value: unknown, lines: () => string[]): void {
  if (o.json) console.log(JSON.stringify(value, null, 2));
  else for (const l of lines()) console.log(l);
}

function templateLines(t: ThingTemplate): string[] {
  return [
    `template ${t.name}${t.description ? ` - ${t.description}` : ""}`,
    ...t.properties.map(
      (p) =>
        `  property ${p.name}: ${p.type}${p.writable ? "" : " read-only"}${p.secret ? " secret" : ""}${p.description ? ` - ${p.description}` : ""}`,
    ),
    ...t.services.map((s) => `  service ${s.name}${s.description ? ` - ${s.description}` : ""}`),
    ...t.events.map((e) => `  event ${e.name}${e.description ? ` - ${e.description}` : ""}`),
  ];
}

/** A definition from `--file` (JSON) or from `--property NAME:TYPE[:secret][:readonly]`, `--service`, `--event`. */
function definitionOf(o: Opts): TemplateDefinition {
  if (typeof o.file === "string") {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readInputFile(o.file, "template file"));
    } catch (err) {
      if (err instanceof OutpostError) throw err;
      throw new OutpostError(ErrorCode.BadRequest, `template file ${o.file} is not JSON: ${(err as Error).message}`);
    }
    return parseTemplateDefinition(parsed);
  }
  const properties = ((o.property as string[] | undefined) ?? []).map((spec) => {
    const [name, type, ...flags] = spec.split(":");
    for (const f of flags) {
      if (f !== "secret" && f !== "readonly") {
        throw new OutpostError(
          ErrorCode.BadRequest,
          `unknown property flag ${JSON.stringify(f)}: use secret or readonly`,
        );
      }
    }
    return { name, type, secret: flags.includes("secret"), writable: !flags.includes("readonly") };
  });
  return parseTemplateDefinition({
    ...(typeof o.description === "string" ? { description: o.description } : {}),
    properties,
    services: ((o.service as string[] | undefined) ?? []).map((name) => ({ name })),
    events: ((o.event as string[] | undefined) ?? []).map((name) => ({ name })),
  });
}

function withDefinition(cmd: Command): Command {
  return cmd
    .option("--file <file>", "the definition as JSON (docs/templates.md)")
    .option(
      "--property <spec>",
      `a property NAME:TYPE[:secret][:readonly], TYPE one of ${PROPERTY_TYPES.join(", ")} (repeatable)`,
      collect,
    )
    .option("--service <name>", "a service (repeatable)", collect)
    .option("--event <name>", "an event (repeatable)", collect)
    .option("--description <text>", "free-text description");
}

/** `template list|show|add|update|remove` (docs/templates.md). Every change is audited with before and after. */
export function templateCommand(): Command {
  const template = new Command("template").description("Thing templates: properties, services and events");
  json(template.command("list"))
    .description("list templates")
    .action(async (o: Opts) => {
      await withDataDir(o.data, async (ctx) => {
        const all = await ctx.registry.templates.list();
        out(o, all, () => (all.length === 0 ? ["no templates"] : all.flatMap(templateLines)));
      });
    });
  json(template.command("show <name>"))
    .description("show one template and the Things made from it")
    .action(async (name: string, o: Opts) => {
      await withDataDir(o.data, async (ctx) => {
        const t = await ctx.registry.templates.get(name);
        if (!t) throw new OutpostError(ErrorCode.NotFound, `template ${name} not found`);
        const things = await ctx.registry.templates.instances(name);
        out(o, { ...t, things }, () => [...templateLines(t), `  things: ${things.join(", ") || "-"}`]);
      });
    });
  withDefinition(json(template.command("add <name>")))
    .description("create a template")
    .action(async (name: string, o: Opts) => {
      await withDataDir(o.data, async (ctx) => {
        const definition = definitionOf(o);
        const after = await ctx.registry.transaction((tx) => tx.templates.create(name, definition));
        ctx.record(`template:${name}`, "template.create", { before: null, after });
        out(o, { action: "template.create", target: `template:${name}`, before: null, after }, () => [
          `template ${name} created`,
        ]);
      });
    });
  withDefinition(json(template.command("update <name>")))
    .description("replace a template's declaration (its Things' stored values follow its secret flags)")
    .action(async (name: string, o: Opts) => {
      await withDataDir(o.data, async (ctx) => {
        const definition = definitionOf(o);
        const { before, after } = await ctx.registry.transaction((tx) => tx.templates.update(name, definition));
        ctx.record(`template:${name}`, "template.update", { before, after });
        out(o, { action: "template.update", target: `template:${name}`, before, after }, () => [
          `template ${name} updated`,
        ]);
      });
    });
  json(template.command("remove <name>"))
    .description("remove a template no Thing is made from, with its entries and visibility")
    .action(async (name: string, o: Opts) => {
      await withDataDir(o.data, async (ctx) => {
        const before = await ctx.registry.transaction((tx) => tx.templates.delete(name));
        ctx.record(`template:${name}`, "template.delete", { before, after: null });
        out(o, { action: "template.delete", target: `template:${name}`, before, after: null }, () => [
          `template ${name} removed`,
        ]);
      });
    });
  return template;
}

/** Parses `NAME=VALUE` (VALUE as JSON, else as a string). */
function setting(spec: string): [string, unknown] {
  const i = spec.indexOf("=");
  if (i <= 0) throw new OutpostError(ErrorCode.BadRequest, `--set wants NAME=VALUE, got ${JSON.stringify(spec)}`);
  const raw = spec.slice(i + 1);
  try {
    return [spec.slice(0, i), JSON.parse(raw) as unknown];
  } catch {
    return [spec.slice(0, i), raw];
  }
}

/** Adds `thing create` and `thing remove` to the `thing` command. */
export function addThingCommands(thing: Command): Command {
  json(thing.command("create <thing> <deviceId>"))
    .description("create a Thing assigned to a device, from a template, with initial values")
    .option("--template <name>", "the template it is made from")
    .option("--description <text>", "free-text description")
    .option("--set <name=value>", "an initial property value, JSON or text (repeatable)", collect)
    .action(async (name: string, deviceId: string, o: Opts) => {
      await withDataDir(o.data, async (ctx) => {
        const properties = Object.fromEntries(((o.set as string[] | undefined) ?? []).map(setting));
        const { record, after } = await ctx.registry.transaction(async (tx) => {
          const record = await tx.templates.createThing({
            name,
            deviceId,
            properties,
            ...(typeof o.template === "string" ? { template: o.template } : {}),
            ...(typeof o.description === "string" ? { description: o.description } : {}),
          });
          return {
            record,
            after: { ...record, properties: maskSecrets(properties, await tx.secrets.secretsOf(name)) },
          };
        });
        ctx.record(`thing:${name}`, "thing.create", { before: null, after });
        out(o, { action: "thing.create", target: `thing:${name}`, before: null, after }, () => [
          `Thing ${name} created on ${deviceId}${record.template ? ` from template ${record.template}` : ""}`,
        ]);
      });
    });
  json(thing.command("remove <thing>"))
    .description("remove a Thing with its kept and desired values, its entries and visibility")
    .action(async (name: string, o: Opts) => {
      await withDataDir(o.data, async (ctx) => {
        const before = await ctx.registry.transaction((tx) => tx.templates.deleteThing(name));
        ctx.record(`thing:${name}`, "thing.delete", { before, after: null });
        out(o, { action: "thing.delete", target: `thing:${name}`, before, after: null }, () => [
          `Thing ${name} removed`,
        ]);
      });
    });
  return thing;
}

/** `secrets status|rotate-key` (docs/security.md, Data key). */
export function secretsCommand(): Command {
  const secrets = new Command("secrets").description("the data key that encrypts secret property values");
  json(secrets.command("status"))
    .description("where the data key comes from and its id (never the key)")
    .action(async (o: Opts) => {
      await withDataDir(o.data, async (ctx) => {
        const k = loadDataKey(ctx.config.paths.dir);
        const status = {
          source: k.source,
          ...(k.file !== undefined ? { file: k.file } : {}),
          keyId: keyId(k.key),
          registryKeyId: (await ctx.registry.secrets.storedKeyId()) ?? null,
        };
        out(o, status, () => [
          `data key ${status.keyId} from ${status.source}${k.file ? ` (${k.file})` : ""}`,
          `registry values encrypted with ${status.registryKeyId ?? "(none yet)"}`,
        ]);
      });
    });
  json(secrets.command("rotate-key"))
    .description("make a new data key and re-encrypt every secret value under it, all at once")
    .option(
      "--new-key <file>",
      "the new key (32 bytes, raw or base64); required when the key comes from the environment or a credential",
    )
    .action(async (o: Opts) => {
      await withDataDir(o.data, async (ctx) => {
        const r = await rotateDataKey(ctx.registry.secrets, ctx.config.paths.dir, {
          ...(typeof o.newKey === "string" ? { newKeyFile: o.newKey } : {}),
        });
        ctx.record("data-key", "secrets.rotate-key", {
          before: { keyId: r.previousKeyId },
          after: { keyId: r.keyId },
          values: r.values,
        });
        out(o, r, () => [`data key rotated: ${r.previousKeyId} -> ${r.keyId}, ${r.values} value(s) re-encrypted`]);
      });
    });
  return secrets;
}
