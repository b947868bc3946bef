import type { IncomingMessage, ServerResponse } from "node:http";
import { ErrorCode, OutpostError, type OutpostValue } from "@outpost/protocol";
import type { Principal } from "../registry/types.js";
import type { ThingService } from "../things/thing-service.js";
import { fromJsonValue, toJsonValue } from "../things/values.js";
import { openEventStream } from "./events-stream.js";
import { readJson, sendJson } from "./http-io.js";

/** What a route handler gets: the parsed request, the caller and the services. */
export interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  /** Decoded path parameters, by name. */
  params: Record<string, string>;
  principal: Principal;
  /** True when the operator is an admin. */
  admin: boolean;
  things: ThingService;
  maxBodyBytes: number;
  /** Aborted when the client goes away. */
  signal: AbortSignal;
  /** Registers a cleanup to run at server shutdown (open event streams). */
  track(stop: () => void): void;
}

type Handler = (ctx: RouteContext) => Promise<void> | void;

interface Route {
  method: string;
  pattern: string[];
  handler: Handler;
}

const routes: Route[] = [
  { method: "GET", pattern: ["api", "devices"], handler: listDevices },
  { method: "GET", pattern: ["api", "things"], handler: listThings },
  { method: "GET", pattern: ["api", "things", ":thing", "properties"], handler: readProperties },
  { method: "PUT", pattern: ["api", "things", ":thing", "properties", ":name"], handler: writeProperty },
  { method: "POST", pattern: ["api", "things", ":thing", "services", ":service"], handler: invokeService },
  { method: "GET", pattern: ["api", "events"], handler: streamEvents },
];

/** Finds the route for a method and path: the handler with its decoded parameters, 404 or 405. */
export function matchRoute(method: string, pathname: string): { handler: Handler; params: Record<string, string> } {
  const segments = pathname.split("/").filter((s) => s.length > 0);
  let pathMatched = false;
  for (const route of routes) {
    const params = matchPattern(route.pattern, segments);
    if (!params) continue;
    pathMatched = true;
    if (route.method === method) return { handler: route.handler, params };
  }
  if (pathMatched) throw new OutpostError(ErrorCode.BadRequest, `method ${method} not allowed here`, { status: 405 });
  throw new OutpostError(ErrorCode.NotFound, `no such endpoint: ${pathname}`, { status: 404 });
}

function matchPattern(pattern: string[], segments: string[]): Record<string, string> | undefined {
  if (pattern.length !== segments.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]!;
    const s = segments[i]!;
    if (p.startsWith(":")) {
      try {
        params[p.slice(1)] = decodeURIComponent(s);
      } catch {
        throw new OutpostError(ErrorCode.BadRequest, "path is not valid percent-encoding", { status: 400 });
      }
    } else if (p !== s) {
      return undefined;
    }
  }
  return params;
}

function listDevices(ctx: RouteContext): void {
  if (!ctx.admin)
    throw new OutpostError(ErrorCode.Forbidden, "listing devices requires an admin operator", { status: 403 });
  sendJson(ctx.res, 200, { devices: ctx.things.listDevices() });
}

function listThings(ctx: RouteContext): void {
  sendJson(ctx.res, 200, { things: ctx.things.listThings(ctx.principal) });
}

async function readProperties(ctx: RouteContext): Promise<void> {
  const names = ctx.url.searchParams
    .getAll("name")
    .flatMap((n) => n.split(","))
    .filter((n) => n.length > 0);
  const snapshot = await ctx.things.readProperties(ctx.params.thing!, names, {
    by: ctx.principal,
    signal: ctx.signal,
    ...timeoutOption(ctx.url),
  });
  sendJson(ctx.res, 200, {
    thing: snapshot.thing,
    live: snapshot.live,
    properties: snapshot.properties.map((p) => ({ ...p, value: toJsonValue(p.value) })),
  });
}

async function writeProperty(ctx: RouteContext): Promise<void> {
  const body = await readJson(ctx.req, ctx.maxBodyBytes);
  if (!isObject(body) || !("value" in body)) {
    throw new OutpostError(ErrorCode.BadRequest, 'body must be {"value": ...}', { status: 400 });
  }
  const value = fromJsonValue(body.value);
  await ctx.things.writeProperty(ctx.params.thing!, ctx.params.name!, value, ctx.principal, {
    signal: ctx.signal,
    ...timeoutOption(ctx.url),
  });
  sendJson(ctx.res, 200, { thing: ctx.params.thing, name: ctx.params.name, value: toJsonValue(value) });
}

async function invokeService(ctx: RouteContext): Promise<void> {
  const body = (await readJson(ctx.req, ctx.maxBodyBytes)) ?? {};
  if (!isObject(body))
    throw new OutpostError(ErrorCode.BadRequest, "body must be a JSON object of parameters", { status: 400 });
  const params: Record<string, OutpostValue> = {};
  for (const [k, v] of Object.entries(body)) params[k] = fromJsonValue(v);
  const result = await ctx.things.invokeService(ctx.params.thing!, ctx.params.service!, params, ctx.principal, {
    signal: ctx.signal,
    ...timeoutOption(ctx.url),
  });
  sendJson(ctx.res, 200, { result: toJsonValue(result) });
}

function streamEvents(ctx: RouteContext): void {
  const thing = ctx.url.searchParams.get("thing");
  const { principal, things } = ctx;
  if (thing && !ctx.admin && !things.canRead(principal, thing)) {
    throw new OutpostError(ErrorCode.Forbidden, `operator ${principal.id} lacks property.read on ${thing}`, {
      status: 403,
    });
  }
  // Checked per change, so a revoked grant takes effect on open streams too.
  const stop = openEventStream(ctx.res, {
    things,
    filter: {
      ...(thing ? { thing } : {}),
      accept: (t) => ctx.admin || things.canRead(principal, t),
    },
  });
  ctx.track(stop);
}

function timeoutOption(url: URL): { timeoutMs?: number } {
  const raw = url.searchParams.get("timeoutMs");
  if (raw === null) return {};
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n <= 0 || n > 600_000) {
    throw new OutpostError(ErrorCode.BadRequest, "timeoutMs must be an integer between 1 and 600000", { status: 400 });
  }
  return { timeoutMs: n };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}
