import { ErrorCode, OutpostError } from "@outpost/protocol";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { DesignPermission, EntityKind } from "../access/model.js";
import type { AuditSink } from "../audit/types.js";
import type { AsyncRegistry, RegistryTransaction } from "../registry/async-types.js";
import { maskSecrets, parseTemplateDefinition } from "../templates/model.js";
import type { Caller } from "./routes.js";
import { bearer, errorResponses } from "./schema-parts.js";

/** What the template and Thing design routes use; without them they answer 503. */
export interface TemplateRouteDeps {
  /**
   * The registry: templates, Things, secret flags and the access model's decisions. Each change
   * runs in one of its transactions with its checks and the state it records before and after,
   * so that no other write joins it.
   */
  registry?: Pick<AsyncRegistry, "access" | "templates" | "secrets" | "transaction">;
  audit?: AuditSink;
  deny(req: FastifyRequest, message: string, details: Record<string, unknown>): OutpostError;
}

const errors = errorResponses([400, 401, 403, 404, 409, 503]);
const json = { description: "Any JSON value." } as const;
const name = { type: "string", minLength: 1, maxLength: 300 } as const;
const text = { type: "string", maxLength: 1024 } as const;
const tags = ["templates"];

const memberSchema = {
  type: "object",
  required: ["name"],
  properties: { name, description: text },
} as const;
const propertySchema = {
  type: "object",
  required: ["name", "type"],
  properties: {
    name,
    type: { type: "string", enum: ["boolean", "integer", "number", "string", "bytes", "json"] },
    writable: { type: "boolean", description: "Operators may write it. Default true." },
    secret: { type: "boolean", description: "Stored encrypted; masked in the audit log. Default false." },
    description: text,
  },
} as const;
const definition = {
  description: text,
  properties: { type: "array", items: propertySchema, maxItems: 1024 },
  services: { type: "array", items: memberSchema, maxItems: 1024 },
  events: { type: "array", items: memberSchema, maxItems: 1024 },
} as const;
const templateSchema = {
  type: "object",
  required: ["name", "description", "properties", "services", "events", "createdAt", "updatedAt"],
  properties: { name, ...definition, createdAt: { type: "integer" }, updatedAt: { type: "integer" } },
} as const;
const thingSchema = {
  type: "object",
  required: ["name", "deviceId", "description"],
  properties: { name, deviceId: name, description: text, template: name },
} as const;
const changeReply = {
  200: {
    type: "object",
    required: ["action", "target"],
    properties: { action: { type: "string" }, target: { type: "string" }, before: json, after: json },
  },
  ...errors,
} as const;
const params = (...names: string[]) => ({
  type: "object",
  required: names,
  properties: Object.fromEntries(names.map((n) => [n, name])),
});

/** Every path of these routes, for the 405 check. */
export const TEMPLATE_ROUTE_PATHS: ReadonlyArray<{ method: string; url: string }> = [
  { method: "GET", url: "/api/templates" },
  { method: "POST", url: "/api/templates" },
  { method: "GET", url: "/api/templates/:template" },
  { method: "PUT", url: "/api/templates/:template" },
  { method: "DELETE", url: "/api/templates/:template" },
  { method: "POST", url: "/api/things" },
  { method: "GET", url: "/api/things/:thing" },
  { method: "PUT", url: "/api/things/:thing" },
  { method: "DELETE", url: "/api/things/:thing" },
];

type Params = Record<string, string>;
type Body = Record<string, unknown>;

const unknown = (kind: EntityKind, n: string) =>
  new OutpostError(ErrorCode.NotFound, `unknown ${kind === "thing" ? "Thing" : kind} ${n}`, { status: 404 });

/**
 * Registers the design routes of templates and Things (docs/operator-api.md, Templates). Each is
 * decided by the access model with a design-time permission (docs/access.md): visibility first
 * (an invisible template, Thing or device is answered exactly like one that does not exist),
 * then the permission (403, audited). Every change writes one admin.change record with the
 * state before and after; secret property values appear there as `<secret>`.
 */
export function registerTemplateRoutes(app: FastifyInstance, deps: TemplateRouteDeps): void {
  type Reads = Pick<RegistryTransaction, "access" | "templates" | "secrets">;
  const store = (): NonNullable<TemplateRouteDeps["registry"]> => {
    const r = deps.registry;
    if (!r) throw new OutpostError(ErrorCode.Unavailable, "templates are not available", { status: 503 });
    return r;
  };
  const who = (req: FastifyRequest): Caller => {
    if (!req.caller) throw new OutpostError(ErrorCode.Internal, "route reached without authentication");
    return req.caller;
  };
  /** Visibility, then the design-time permission; throws the 404 or the (audited) 403. */
  const check = async (
    r: Reads,
    req: FastifyRequest,
    permission: DesignPermission,
    kind: "thing" | "template",
    target: string,
    template?: string,
  ): Promise<Caller> => {
    const c = who(req);
    const d = await r.access.decide(
      { principal: c.principal, permission, target, ...(template !== undefined ? { template } : {}) },
      kind,
    );
    if (d.reason === "not-found" || d.reason === "invisible") {
      throw permission === "create" ? unknown("template", template ?? target) : unknown(kind, target);
    }
    if (!d.allowed) throw lacks(req, c, permission, kind, target, d.reason);
    return c;
  };
  const lacks = (
    req: FastifyRequest,
    c: Caller,
    permission: DesignPermission,
    kind: "thing" | "template",
    target: string,
    reason: string,
  ): OutpostError =>
    deps.deny(req, `${c.principal.kind} ${c.principal.id} lacks ${permission} on ${kind} ${target}`, {
      action: `${kind}.${permission}`,
      target: `${kind}:${target}`,
      permission,
      reason,
    });
  /**
   * Names are unique server-wide, so a create under a name taken by an entity the caller cannot
   * see must fail; it is answered exactly as a caller without `create` is answered (the same 403
   * and body), never with the 409 that would tell the caller the entity exists. The audit record
   * names the real reason.
   */
  const claim = async (r: Reads, req: FastifyRequest, c: Caller, kind: "thing" | "template", n: string) => {
    const seen = await r.access.decide({ principal: c.principal, permission: "read", target: n }, kind);
    if (seen.reason === "invisible") throw lacks(req, c, "create", kind, n, "name taken by an invisible entity");
  };
  /** Runs a change (its checks with it) in one registry transaction, so it never joins another unit of work. */
  const atomically = <T>(work: (tx: RegistryTransaction) => Promise<T>): Promise<T> => store().transaction(work);
  const record = (c: Caller, target: string, action: string, before: unknown, after: unknown) => {
    deps.audit?.append({
      type: "admin.change",
      actor: `operator:${c.principal.id}`,
      target,
      outcome: "success",
      source: c.source,
      details: { action, before: before ?? null, after: after ?? null, via: "operator-api" },
    });
    return { action, target, before: before ?? null, after: after ?? null };
  };

  app.get(
    "/api/templates",
    {
      schema: {
        operationId: "listTemplates",
        summary: "The templates visible to the caller on which it holds read.",
        tags,
        security: bearer,
        response: {
          200: {
            type: "object",
            required: ["templates"],
            properties: { templates: { type: "array", items: templateSchema } },
          },
          ...errors,
        },
      },
    },
    async (req) => {
      const c = who(req);
      const { templates, access } = store();
      const may = async (t: string) =>
        (await access.visible(c.principal, "template", t)) &&
        (await access.allows({ principal: c.principal, permission: "read", target: t }, "template"));
      const all = await templates.list();
      const allowed = await Promise.all(all.map((t) => may(t.name)));
      return { templates: all.filter((_t, i) => allowed[i]) };
    },
  );

  app.get<{ Params: Params }>(
    "/api/templates/:template",
    {
      schema: {
        operationId: "getTemplate",
        summary: "One template (needs read on it).",
        tags,
        security: bearer,
        params: params("template"),
        response: { 200: templateSchema, ...errors },
      },
    },
    async (req) => {
      const n = req.params.template;
      const r = store();
      await check(r, req, "read", "template", n);
      const t = await r.templates.get(n);
      if (!t) throw unknown("template", n);
      return t;
    },
  );

  const definitionBody = (required: string[]) => ({
    type: "object",
    required,
    additionalProperties: false,
    properties: { name, ...definition },
  });

  app.post<{ Body: Body }>(
    "/api/templates",
    {
      schema: {
        operationId: "createTemplate",
        summary: "Creates a template (needs create on templates).",
        tags,
        security: bearer,
        body: definitionBody(["name"]),
        response: changeReply,
      },
    },
    async (req) => {
      const n = String(req.body.name);
      const definition = parseTemplateDefinition(req.body);
      const { c, t } = await atomically(async (tx) => {
        const c = await check(tx, req, "create", "template", n);
        await claim(tx, req, c, "template", n);
        return { c, t: await tx.templates.create(n, definition) };
      });
      return record(c, `template:${n}`, "createTemplate", null, t);
    },
  );

  app.put<{ Params: Params; Body: Body }>(
    "/api/templates/:template",
    {
      schema: {
        operationId: "updateTemplate",
        summary:
          "Replaces a template's declaration (needs update on it); its Things' stored values follow its secret flags.",
        tags,
        security: bearer,
        params: params("template"),
        body: definitionBody([]),
        response: changeReply,
      },
    },
    async (req) => {
      const n = req.params.template;
      const { c, before, after } = await atomically(async (tx) => {
        const c = await check(tx, req, "update", "template", n);
        if (req.body.name !== undefined && req.body.name !== n) {
          throw new OutpostError(ErrorCode.BadRequest, "a template cannot be renamed");
        }
        return { c, ...(await tx.templates.update(n, parseTemplateDefinition(req.body))) };
      });
      return record(c, `template:${n}`, "updateTemplate", before, after);
    },
  );

  app.delete<{ Params: Params }>(
    "/api/templates/:template",
    {
      schema: {
        operationId: "deleteTemplate",
        summary: "Removes a template no Thing is made from (needs delete on it), with its entries and visibility.",
        tags,
        security: bearer,
        params: params("template"),
        response: changeReply,
      },
    },
    async (req) => {
      const n = req.params.template;
      const { c, before } = await atomically(async (tx) => {
        const c = await check(tx, req, "delete", "template", n);
        return { c, before: await tx.templates.delete(n) };
      });
      return record(c, `template:${n}`, "deleteTemplate", before, null);
    },
  );

  app.post<{ Body: Body }>(
    "/api/things",
    {
      schema: {
        operationId: "createThing",
        summary:
          "Creates a Thing assigned to a device, from a template when one is named, with initial kept values (needs create on things or on the template's instances).",
        tags,
        security: bearer,
        body: {
          type: "object",
          required: ["name", "deviceId"],
          additionalProperties: false,
          properties: {
            name,
            deviceId: name,
            template: name,
            description: text,
            properties: { type: "object", description: "Initial values by property name (JSON forms)." },
          },
        },
        response: changeReply,
      },
    },
    async (req) => {
      const b = req.body;
      const n = String(b.name);
      const template = typeof b.template === "string" ? b.template : undefined;
      const deviceId = String(b.deviceId);
      const values = (b.properties ?? {}) as Record<string, unknown>;
      const { c, thing, masked } = await atomically(async (tx) => {
        const c = await check(tx, req, "create", "thing", n, template);
        // A device that does not exist for the caller is answered like one that does not exist.
        if (!(await tx.access.visible(c.principal, "device", deviceId))) throw unknown("device", deviceId);
        await claim(tx, req, c, "thing", n);
        const thing = await tx.templates.createThing({
          name: n,
          deviceId,
          ...(template !== undefined ? { template } : {}),
          ...(typeof b.description === "string" ? { description: b.description } : {}),
          properties: values,
        });
        return { c, thing, masked: maskSecrets(values, await tx.secrets.secretsOf(n)) };
      });
      return record(c, `thing:${n}`, "createThing", null, { ...thing, properties: masked });
    },
  );

  app.get<{ Params: Params }>(
    "/api/things/:thing",
    {
      schema: {
        operationId: "getThing",
        summary: "One Thing's record: device, description, template (needs read on it).",
        tags,
        security: bearer,
        params: params("thing"),
        response: { 200: thingSchema, ...errors },
      },
    },
    async (req) => {
      const n = req.params.thing;
      const r = store();
      await check(r, req, "read", "thing", n);
      const t = await r.templates.getThing(n);
      if (!t) throw unknown("thing", n);
      return t;
    },
  );

  app.put<{ Params: Params; Body: Body }>(
    "/api/things/:thing",
    {
      schema: {
        operationId: "updateThing",
        summary: "Changes a Thing's description (needs update on it).",
        tags,
        security: bearer,
        params: params("thing"),
        body: {
          type: "object",
          required: ["description"],
          additionalProperties: false,
          properties: { description: text },
        },
        response: changeReply,
      },
    },
    async (req) => {
      const n = req.params.thing;
      const { c, before, after } = await atomically(async (tx) => {
        const c = await check(tx, req, "update", "thing", n);
        const before = await tx.templates.getThing(n);
        if (!before) throw unknown("thing", n);
        return { c, before, after: await tx.templates.describeThing(n, String(req.body.description)) };
      });
      return record(c, `thing:${n}`, "updateThing", before, after);
    },
  );

  app.delete<{ Params: Params }>(
    "/api/things/:thing",
    {
      schema: {
        operationId: "deleteThing",
        summary: "Removes a Thing with its kept and desired values, entries and visibility (needs delete on it).",
        tags,
        security: bearer,
        params: params("thing"),
        response: changeReply,
      },
    },
    async (req) => {
      const n = req.params.thing;
      const { c, before } = await atomically(async (tx) => {
        const c = await check(tx, req, "delete", "thing", n);
        return { c, before: await tx.templates.deleteThing(n) };
      });
      return record(c, `thing:${n}`, "deleteThing", before, null);
    },
  );
}
