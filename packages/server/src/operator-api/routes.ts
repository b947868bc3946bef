import { ErrorCode, OutpostError, type OutpostValue } from "@outpost/protocol";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { AuditHealth } from "../audit/guard.js";
import { parseOperatorToken } from "../auth/app-keys.js";
import { inScope } from "../auth/token-scope.js";
import type { LoginTokenRecord } from "../registry/credentials-sql.js";
import type { Principal } from "../registry/types.js";
import type { DesiredReading } from "../things/desired.js";
import type { ThingService } from "../things/thing-service.js";
import { fromJsonValue, toJsonValue } from "../things/values.js";
import type { EventLog } from "./event-log.js";
import { ACCESS_ROUTE_PATHS } from "./access-routes.js";
import { FILE_ROUTE_PATHS, type FileRouteDeps, registerFileRoutes } from "./file-routes.js";
import { openEventStream } from "./events-stream.js";
import { LOGIN_ROUTE_PATHS } from "./login-routes.js";
import { TEMPLATE_ROUTE_PATHS } from "./template-routes.js";
import {
  clearDesiredSchema,
  healthSchema,
  invokeServiceSchema,
  listDevicesSchema,
  listThingsSchema,
  readPropertiesSchema,
  streamEventsSchema,
  whoamiSchema,
  writePropertySchema,
} from "./schemas.js";

/** The authenticated caller of a request, set by the authentication hook. */
export interface Caller {
  principal: Principal;
  admin: boolean;
  /** Remote address of the request. */
  source: string;
  /** The bearer token, kept only to re-check open event streams; never logged. */
  token: string;
  /** How the token came: "cookie" for a browser session. */
  via: "bearer" | "cookie";
  /** Set when the token was issued by a login: its kind, expiry and scope (docs/authentication.md). */
  login?: LoginTokenRecord;
}

declare module "fastify" {
  interface FastifyRequest {
    caller?: Caller;
    /** Set once a refusal of this request has been written to the audit log. */
    refusalAudited?: boolean;
  }
  interface FastifyContextConfig {
    /** False for the routes that need no bearer token. Default true. */
    auth?: boolean;
  }
}

/** What the routes use. */
export interface RouteDeps {
  things: ThingService;
  events: EventLog;
  /** Whether the audit log can be written, as last observed. */
  auditHealth(): AuditHealth;
  /** Refuses (403) and audits; returns the error to throw. */
  deny(req: FastifyRequest, message: string, details: Record<string, unknown>): OutpostError;
  /** File transfer (undefined when the server has no file repository: the file routes answer 503). */
  files?: () => FileRouteDeps | undefined;
  /** Registers an open event stream so revocation and shutdown can end it. */
  track(caller: Caller, stop: () => void, closed: Promise<void>): void;
}

/** Every path of the API, as fastify patterns (for the 405 check). */
export const ROUTE_PATHS: ReadonlyArray<{ method: string; url: string }> = [
  ...ACCESS_ROUTE_PATHS,
  ...FILE_ROUTE_PATHS,
  ...LOGIN_ROUTE_PATHS,
  ...TEMPLATE_ROUTE_PATHS,
  { method: "GET", url: "/api/health" },
  { method: "GET", url: "/api/openapi.json" },
  { method: "GET", url: "/api/whoami" },
  { method: "GET", url: "/api/devices" },
  { method: "GET", url: "/api/things" },
  { method: "GET", url: "/api/things/:thing/properties" },
  { method: "PUT", url: "/api/things/:thing/properties/:name" },
  { method: "DELETE", url: "/api/things/:thing/properties/:name/desired" },
  { method: "POST", url: "/api/things/:thing/services/:service" },
  { method: "GET", url: "/api/events" },
  { method: "GET", url: "/api/tunnels" },
  { method: "DELETE", url: "/api/tunnels/:id" },
  { method: "GET", url: "/api/devices/:id/tunnel" },
];

interface ThingParams {
  thing: string;
  name?: string;
  service?: string;
}

interface TimeoutQuery {
  timeoutMs?: number;
  name?: string[];
  thing?: string;
}

function desiredJson(d: DesiredReading): Record<string, unknown> {
  return { ...d, value: toJsonValue(d.value) };
}

function caller(req: FastifyRequest): Caller {
  if (!req.caller) throw new OutpostError(ErrorCode.Internal, "route reached without authentication");
  return req.caller;
}

function callOptions(req: FastifyRequest<{ Querystring: TimeoutQuery }>, signal: AbortSignal) {
  return {
    signal,
    source: req.ip,
    ...(req.query.timeoutMs !== undefined ? { timeoutMs: req.query.timeoutMs } : {}),
  };
}

/** An AbortSignal that fires when the client goes away before the answer. */
function clientGone(reply: FastifyReply): AbortSignal {
  const abort = new AbortController();
  reply.raw.once("close", () => abort.abort());
  return abort.signal;
}

/** Registers the operator API routes on `app` (docs/operator-api.md). */
export function registerRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const { things } = deps;
  registerFileRoutes(app, deps.files ?? (() => undefined), deps.deny);

  app.get("/api/health", { schema: healthSchema, config: { auth: false } }, async () => {
    // Unauthenticated: the failure message (it may name paths) stays in the server's log.
    const audit = deps.auditHealth();
    return {
      status: "ok",
      audit: audit.state === "ok" ? audit : { state: audit.state, since: audit.since, lost: audit.lost },
    };
  });

  app.get("/api/whoami", { schema: whoamiSchema }, async (req) => {
    const who = caller(req);
    const parsed = parseOperatorToken(who.token);
    const groups = who.principal.groups;
    return {
      operator: who.principal.id,
      admin: who.admin,
      tokenId: parsed.ok ? parsed.id : "",
      ...(groups && groups.length > 0 ? { groups } : {}),
    };
  });

  app.get("/api/devices", { schema: listDevicesSchema }, async (req) => {
    if (!caller(req).admin) {
      throw deps.deny(req, "listing devices requires an admin operator", { action: "devices.list" });
    }
    return { devices: await things.listDevices() };
  });

  app.get("/api/things", { schema: listThingsSchema }, async (req) => {
    const who = caller(req);
    // A token scoped to some Things lists only those.
    const only = who.login?.scope?.things;
    return {
      things: (await things.listThings(who.principal)).filter((t) => only === undefined || only.includes(t.name)),
    };
  });

  app.get<{ Params: ThingParams; Querystring: TimeoutQuery }>(
    "/api/things/:thing/properties",
    { schema: readPropertiesSchema },
    async (req, reply) => {
      const names = (req.query.name ?? []).flatMap((n) => n.split(",")).filter((n) => n.length > 0);
      const snapshot = await things.readProperties(req.params.thing, names, {
        by: caller(req).principal,
        ...callOptions(req, clientGone(reply)),
      });
      return {
        thing: snapshot.thing,
        live: snapshot.live,
        properties: snapshot.properties.map((p) => ({ ...p, value: toJsonValue(p.value) })),
        desired: snapshot.desired.map(desiredJson),
      };
    },
  );

  app.put<{ Params: ThingParams; Querystring: TimeoutQuery; Body: { value: unknown; expiresInMs?: number } }>(
    "/api/things/:thing/properties/:name",
    { schema: writePropertySchema },
    async (req, reply) => {
      const { thing, name } = req.params as Required<ThingParams>;
      const value = fromJsonValue(req.body.value);
      const result = await things.writeProperty(thing, name, value, caller(req).principal, {
        ...callOptions(req, clientGone(reply)),
        ...(req.body.expiresInMs !== undefined ? { expiresInMs: req.body.expiresInMs } : {}),
      });
      if (result.state === "applied") return { state: "applied", thing, name, value: toJsonValue(value) };
      reply.code(202);
      return { state: "desired", thing, ...desiredJson(result.desired) };
    },
  );

  app.delete<{ Params: ThingParams }>(
    "/api/things/:thing/properties/:name/desired",
    { schema: clearDesiredSchema },
    async (req) => {
      const { thing, name } = req.params as Required<ThingParams>;
      await things.clearDesired(thing, name, caller(req).principal, { source: req.ip });
      return { thing, name, cleared: true };
    },
  );

  app.post<{ Params: ThingParams; Querystring: TimeoutQuery; Body: Record<string, unknown> }>(
    "/api/things/:thing/services/:service",
    {
      schema: invokeServiceSchema,
      // An empty body is no parameters.
      preValidation: async (req) => {
        if (req.body === undefined || req.body === null) req.body = {};
      },
    },
    async (req, reply) => {
      const { thing, service } = req.params as Required<ThingParams>;
      const params: Record<string, OutpostValue> = {};
      for (const [k, v] of Object.entries(req.body)) params[k] = fromJsonValue(v);
      const result = await things.invokeService(
        thing,
        service,
        params,
        caller(req).principal,
        callOptions(req, clientGone(reply)),
      );
      return { result: toJsonValue(result) };
    },
  );

  app.get<{ Querystring: TimeoutQuery; Headers: { "last-event-id"?: string } }>(
    "/api/events",
    { schema: streamEventsSchema },
    async (req, reply) => {
      const who = caller(req);
      const thing = req.query.thing;
      // An invisible Thing is answered exactly like one that does not exist.
      if (thing && !(await things.hasThing(thing, who.principal))) {
        throw new OutpostError(ErrorCode.NotFound, `unknown Thing ${thing}`, { status: 404 });
      }
      if (thing && !(await things.canRead(who.principal, thing)) && !(await things.canFollow(who.principal, thing))) {
        throw deps.deny(req, `operator ${who.principal.id} lacks property.read on ${thing}`, {
          action: "events.stream",
          thing,
          permission: "property.read",
        });
      }
      reply.hijack();
      const res = reply.raw;
      const lastEventId = req.headers["last-event-id"];
      const stop = openEventStream(res, {
        log: deps.events,
        ...(thing ? { thing } : {}),
        ...(lastEventId !== undefined ? { lastEventId } : {}),
        accept: (c) => inScope(who.login?.scope, "property.read", c.thing) && things.mayReceive(who.principal, c),
      });
      deps.track(who, stop, new Promise((resolve) => res.once("close", () => resolve())));
    },
  );
}
