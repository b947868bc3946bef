import { ErrorCode, OutpostError } from "@outpost/protocol";
import type { FastifyInstance, FastifyRequest } from "fastify";
import {
  type AccessPermission,
  type EntityKind,
  isAccessPermission,
  parseLevel,
  parseSubject,
  subjectKey,
} from "../access/model.js";
import { type ExplainTarget, explainAccess } from "../access/explain.js";
import type { AuditSink } from "../audit/types.js";
import type { AsyncRegistry, AsyncStores } from "../registry/async-types.js";
import type { Caller } from "./routes.js";
import { bearer, errorResponses } from "./schema-parts.js";

/** The access model through the registry's asynchronous contract (the registry or a transaction). */
type Access = AsyncStores["access"];

/** What the access routes use; without `registry` they answer 503. */
export interface AccessRouteDeps {
  /**
   * The registry whose access model the routes read and change. Each change runs with its before
   * and after in one transaction, so that no other unit of work lands between them.
   */
  registry?: Pick<AsyncRegistry, "access" | "transaction">;
  audit?: AuditSink;
  deny(req: FastifyRequest, message: string, details: Record<string, unknown>): OutpostError;
}

const errors = errorResponses([400, 401, 403, 404, 409, 503]);
const json = { description: "Any JSON value." } as const;
const name = { type: "string", minLength: 1, maxLength: 300 } as const;

/** The answer of every change: what was changed, the state before and after. */
const changeReply = {
  200: {
    type: "object",
    required: ["action", "target"],
    properties: { action: { type: "string" }, target: { type: "string" }, before: json, after: json },
  },
  ...errors,
} as const;

/** Every path of the access routes, for the 405 check. */
export const ACCESS_ROUTE_PATHS: ReadonlyArray<{ method: string; url: string }> = [
  { method: "GET", url: "/api/access" },
  { method: "GET", url: "/api/access/explain" },
  { method: "POST", url: "/api/access/entries" },
  { method: "DELETE", url: "/api/access/entries/:id" },
  { method: "POST", url: "/api/access/groups" },
  { method: "DELETE", url: "/api/access/groups/:group" },
  { method: "PUT", url: "/api/access/groups/:group/members/:member" },
  { method: "DELETE", url: "/api/access/groups/:group/members/:member" },
  { method: "POST", url: "/api/access/organizations" },
  { method: "DELETE", url: "/api/access/organizations/:org" },
  { method: "POST", url: "/api/access/organizations/:org/units" },
  { method: "DELETE", url: "/api/access/organizations/:org/units/:unit" },
  { method: "PUT", url: "/api/access/organizations/:org/units/:unit/members/:member" },
  { method: "DELETE", url: "/api/access/organizations/:org/units/:unit/members/:member" },
  { method: "PUT", url: "/api/access/organizations/:org/units/:unit/visible/:entity" },
  { method: "DELETE", url: "/api/access/organizations/:org/units/:unit/visible/:entity" },
];

type Params = Record<string, string>;

function entityArg(text: string): { kind: EntityKind; name: string } {
  const m = /^(thing|template|device):(.+)$/.exec(text);
  if (!m) {
    throw new OutpostError(
      ErrorCode.BadRequest,
      `invalid entity ${JSON.stringify(text)}: use thing:NAME, template:NAME or device:ID`,
    );
  }
  return { kind: m[1] as EntityKind, name: m[2]! };
}

function permissionArg(p: unknown): AccessPermission {
  if (!isAccessPermission(p)) throw new OutpostError(ErrorCode.BadRequest, `invalid permission ${JSON.stringify(p)}`);
  return p;
}

/** Registers the access model routes (docs/operator-api.md, Access). Changes need a member of Administrators. */
export function registerAccessRoutes(app: FastifyInstance, deps: AccessRouteDeps): void {
  const registry = (): Pick<AsyncRegistry, "access" | "transaction"> => {
    const r = deps.registry;
    if (!r) throw new OutpostError(ErrorCode.Unavailable, "the access model is not available", { status: 503 });
    return r;
  };
  const who = (req: FastifyRequest): Caller => {
    if (!req.caller) throw new OutpostError(ErrorCode.Internal, "route reached without authentication");
    return req.caller;
  };
  const admin = (req: FastifyRequest, action: string): Caller => {
    const c = who(req);
    if (!c.admin)
      throw deps.deny(req, "changing or listing the access model requires a member of Administrators", { action });
    return c;
  };

  /** One audited change: admin check, before, change, after, one admin.change record. */
  const change = (
    method: "post" | "put" | "delete",
    url: string,
    operationId: string,
    summary: string,
    body: Record<string, unknown> | undefined,
    run: (
      a: Access,
      p: Params,
      b: Record<string, unknown>,
    ) => Promise<{ target: string; before?: unknown; after: () => Promise<unknown> | unknown }>,
  ) => {
    const params = Object.fromEntries([...url.matchAll(/:(\w+)/g)].map((m) => [m[1]!, name]));
    app[method]<{ Params: Params; Body: Record<string, unknown> }>(
      url,
      {
        schema: {
          operationId,
          summary,
          tags: ["access"],
          security: bearer,
          params: { type: "object", required: Object.keys(params), properties: params },
          ...(body ? { body } : {}),
          response: changeReply,
        },
      },
      async (req) => {
        const caller = admin(req, operationId);
        const r = await registry().transaction(async (tx) => {
          const r = await run(tx.access, req.params, req.body ?? {});
          return { ...r, after: (await r.after()) ?? null };
        });
        const after = r.after;
        deps.audit?.append({
          type: "admin.change",
          actor: `operator:${caller.principal.id}`,
          target: r.target,
          outcome: "success",
          source: caller.source,
          details: { action: operationId, before: r.before ?? null, after, via: "operator-api" },
        });
        return { action: operationId, target: r.target, before: r.before ?? null, after };
      },
    );
  };

  app.get(
    "/api/access",
    {
      schema: {
        operationId: "getAccessModel",
        summary: "The whole access model: groups, entries, organizations with units, visibility (Administrators).",
        tags: ["access"],
        security: bearer,
        response: {
          200: {
            type: "object",
            required: ["groups", "entries", "organizations", "visibility"],
            properties: { groups: json, entries: json, organizations: json, visibility: json },
          },
          ...errors,
        },
      },
    },
    async (req) => {
      admin(req, "getAccessModel");
      const a = registry().access;
      // Asked together, so that they are answered one after the other with no write between them.
      const [groups, entries, organizations, visibility] = await Promise.all([
        a.listGroups(),
        a.listEntries(),
        a.listOrganizations(),
        a.listVisibility(),
      ]);
      return { groups, entries, organizations, visibility };
    },
  );

  app.get<{
    Querystring: {
      principal?: string;
      thing?: string;
      template?: string;
      instances?: string;
      permission: string;
      member?: string;
    };
  }>(
    "/api/access/explain",
    {
      schema: {
        operationId: "explainAccess",
        summary:
          "The decision for a principal (default: the caller) on a Thing (a device id for the device permissions), on a template itself, or at a template's instance level (what every Thing made from it inherits), and every entry that produced it. Give exactly one of thing, template and instances. Others than the caller: Administrators only.",
        tags: ["access"],
        security: bearer,
        querystring: {
          type: "object",
          required: ["permission"],
          properties: {
            principal: { ...name, description: "user:NAME or device:ID. Default: the caller." },
            thing: name,
            template: {
              ...name,
              description:
                "A template: design-time permissions on the template itself, run-time ones at its instance level.",
            },
            instances: {
              ...name,
              description: "A template: its instance level, inherited by every Thing made from it.",
            },
            permission: name,
            member: { ...name, description: "One property, service or event of the Thing." },
          },
        },
        response: {
          200: {
            type: "object",
            required: ["allowed", "reason", "entries", "groups"],
            properties: {
              allowed: { type: "boolean" },
              reason: { type: "string" },
              entries: json,
              groups: { type: "array", items: { type: "string" } },
              visibility: { type: "string" },
              level: {
                type: "string",
                description: "instances:TEMPLATE when the template-instance level was decided.",
              },
            },
          },
          ...errors,
        },
      },
    },
    async (req) => {
      const c = who(req);
      const q = req.query;
      const s = q.principal === undefined ? undefined : parseSubject(q.principal);
      const self = s === undefined || (s.kind === "user" && s.name === c.principal.id);
      if (!self && !c.admin) {
        throw deps.deny(req, "explaining the access of another principal requires a member of Administrators", {
          action: "explainAccess",
        });
      }
      if (s?.kind === "group") throw new OutpostError(ErrorCode.BadRequest, "explain asks about a user or a device");
      const principal = self
        ? c.principal
        : { kind: s!.kind === "device" ? ("device" as const) : ("operator" as const), id: s!.name };
      const targets: ExplainTarget[] = [
        ...(q.thing !== undefined ? [{ kind: "thing" as const, name: q.thing }] : []),
        ...(q.template !== undefined ? [{ kind: "template" as const, name: q.template }] : []),
        ...(q.instances !== undefined ? [{ kind: "instances" as const, name: q.instances }] : []),
      ];
      if (targets.length !== 1) {
        throw new OutpostError(ErrorCode.BadRequest, "give exactly one of thing, template and instances");
      }
      return explainAccess(registry().access, principal, permissionArg(q.permission), targets[0]!, q.member);
    },
  );

  const entryBody = {
    type: "object",
    required: ["effect", "subject", "permission", "level"],
    additionalProperties: false,
    properties: {
      effect: { type: "string", enum: ["allow", "deny"] },
      subject: { ...name, description: "user:NAME, device:ID or group:NAME" },
      permission: name,
      level: {
        ...name,
        description:
          "things, devices, templates, instances:TEMPLATE, template:TEMPLATE, thing:NAME, device:ID or thing:NAME#MEMBER",
      },
    },
  };
  change(
    "post",
    "/api/access/entries",
    "addAccessEntry",
    "Adds an Allow or Deny entry.",
    entryBody,
    async (a, _p, b) => {
      const s = parseSubject(String(b.subject));
      const e = await a.addEntry(
        b.effect as "allow" | "deny",
        s,
        permissionArg(b.permission),
        parseLevel(String(b.level)),
      );
      return { target: subjectKey(s), after: () => e };
    },
  );
  change(
    "delete",
    "/api/access/entries/:id",
    "removeAccessEntry",
    "Removes one entry by id.",
    undefined,
    async (a, p) => {
      const removed = await a.removeEntry(Number(p.id));
      if (!removed) throw new OutpostError(ErrorCode.NotFound, `entry ${p.id} not found`, { status: 404 });
      return { target: `entry:${p.id}`, before: removed, after: () => null };
    },
  );
  const groupBody = {
    type: "object",
    required: ["name"],
    additionalProperties: false,
    properties: { name, description: { type: "string", maxLength: 1000 } },
  };
  change("post", "/api/access/groups", "addGroup", "Creates a group.", groupBody, async (a, _p, b) => {
    const g = await a.createGroup(String(b.name), typeof b.description === "string" ? b.description : "");
    return { target: `group:${g.name}`, after: () => a.getGroup(g.name) };
  });
  change(
    "delete",
    "/api/access/groups/:group",
    "removeGroup",
    "Removes a group (not a predefined one).",
    undefined,
    async (a, p) => {
      const before = await a.deleteGroup(p.group!);
      return { target: `group:${p.group}`, before, after: () => null };
    },
  );
  for (const [method, add] of [
    ["put", true],
    ["delete", false],
  ] as const) {
    change(
      method,
      "/api/access/groups/:group/members/:member",
      add ? "addGroupMember" : "removeGroupMember",
      add
        ? "Adds user:NAME or device:ID to a group (never a device to Administrators)."
        : "Removes a member from a group.",
      undefined,
      async (a, p) => {
        const before = await a.getGroup(p.group!);
        const m = parseSubject(p.member!);
        if (add) await a.addMember(p.group!, m);
        else await a.removeMember(p.group!, m);
        return { target: `group:${p.group}`, before, after: () => a.getGroup(p.group!) };
      },
    );
  }
  change(
    "post",
    "/api/access/organizations",
    "addOrganization",
    "Creates an organization and its root unit.",
    groupBody,
    async (a, _p, b) => {
      await a.createOrganization(String(b.name), typeof b.description === "string" ? b.description : "");
      return {
        target: `organization:${String(b.name)}`,
        after: async () => (await a.listOrganizations()).find((o) => o.name === b.name),
      };
    },
  );
  change(
    "delete",
    "/api/access/organizations/:org",
    "removeOrganization",
    "Removes an organization with its units.",
    undefined,
    async (a, p) => {
      const before = (await a.listOrganizations()).find((o) => o.name === p.org);
      await a.deleteOrganization(p.org!);
      return { target: `organization:${p.org}`, before, after: () => null };
    },
  );
  const unitBody = {
    type: "object",
    required: ["name"],
    additionalProperties: false,
    properties: { name, parent: { ...name, description: "Parent unit. Default: the root unit." } },
  };
  const unitOf = async (a: Access, org: string, unit: string) =>
    (await a.listUnits(org)).find((u) => u.name === unit) ?? null;
  change(
    "post",
    "/api/access/organizations/:org/units",
    "addUnit",
    "Adds a unit below a parent unit.",
    unitBody,
    async (a, p, b) => {
      await a.createUnit(p.org!, String(b.name), typeof b.parent === "string" ? b.parent : p.org!);
      return { target: `unit:${p.org}/${String(b.name)}`, after: () => unitOf(a, p.org!, String(b.name)) };
    },
  );
  change(
    "delete",
    "/api/access/organizations/:org/units/:unit",
    "removeUnit",
    "Removes a unit with no units below it.",
    undefined,
    async (a, p) => {
      const before = await unitOf(a, p.org!, p.unit!);
      await a.deleteUnit(p.org!, p.unit!);
      return { target: `unit:${p.org}/${p.unit}`, before, after: () => null };
    },
  );
  for (const [method, add] of [
    ["put", true],
    ["delete", false],
  ] as const) {
    change(
      method,
      "/api/access/organizations/:org/units/:unit/members/:member",
      add ? "addUnitMember" : "removeUnitMember",
      add ? "Makes user:NAME, device:ID or group:NAME a member of a unit." : "Removes a member from a unit.",
      undefined,
      async (a, p) => {
        const before = await unitOf(a, p.org!, p.unit!);
        const m = parseSubject(p.member!);
        if (add) await a.addUnitMember(p.org!, p.unit!, m);
        else await a.removeUnitMember(p.org!, p.unit!, m);
        return { target: `unit:${p.org}/${p.unit}`, before, after: () => unitOf(a, p.org!, p.unit!) };
      },
    );
    change(
      method,
      "/api/access/organizations/:org/units/:unit/visible/:entity",
      add ? "grantVisibility" : "revokeVisibility",
      add
        ? "Makes thing:NAME or device:ID visible to a unit and the units above it."
        : "Takes a unit's visibility of thing:NAME or device:ID away.",
      undefined,
      async (a, p) => {
        const e = entityArg(p.entity!);
        const was = (await a.listVisibility()).some(
          (v) => v.organization === p.org && v.unit === p.unit && v.entity.kind === e.kind && v.entity.name === e.name,
        );
        if (add) await a.grantVisibility(p.org!, p.unit!, e.kind, e.name);
        else await a.revokeVisibility(p.org!, p.unit!, e.kind, e.name);
        return { target: `${e.kind}:${e.name}`, before: { visible: was }, after: () => ({ visible: add }) };
      },
    );
  }
}
