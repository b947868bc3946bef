import type { IncomingMessage, ServerResponse } from "node:http";
import { ErrorCode, type JsonValue, OutpostError, type OutpostValue } from "@outpost/protocol";
import type { SetOptions, ThingHandle } from "@outpost/sdk";
import { asObject, readJson, sendJson } from "./http-util.js";
import type { PendingTunnel } from "../daemon/tunnel-approvals.js";
import { fileRoute } from "./file-routes.js";
import type { LocalFilesApi } from "./local-files.js";
import type { ServiceBroker } from "./service-broker.js";

/** One Thing of the configuration, with what the routes need of the identity that owns it. */
export interface LocalThing {
  handle: ThingHandle;
  /** Property names set or declared, for reads. */
  propertyNames(): string[];
  /** Notes a property set through the API, so reads list it. */
  remember(name: string): void;
  /** Items waiting in its identity's offline queue. */
  queueSize(): number;
  /** Resolves once everything queued so far in its identity's queue is on disk (see DurableBarrier). */
  durable(): Promise<void>;
  /** Its identity's counters. */
  counters: { propertySets: number; events: number };
}

/** Tunnel requests of every identity waiting for a local decision. */
export interface LocalTunnels {
  list(): PendingTunnel[];
  /** False when no request `id` waits. */
  decide(id: string, ok: boolean): boolean;
}

/** What the routes need from the daemon. */
export interface LocalApiContext {
  /** A Thing of the configuration (of whichever identity claims it), or undefined. */
  thing(name: string): LocalThing | undefined;
  broker: ServiceBroker;
  tunnels: LocalTunnels;
  files: LocalFilesApi;
  status(): unknown;
  metrics(): string;
  maxBodyBytes: number;
}

const POLL_DEFAULT_MS = 30_000;
const POLL_MAX_MS = 120_000;

/** Routes one request; returns its status. Throws an OutpostError for a refused one. */
export async function route(ctx: LocalApiContext, req: IncomingMessage, res: ServerResponse): Promise<number> {
  const url = new URL(req.url ?? "/", "http://localhost");
  const parts = url.pathname.split("/").slice(1).map(decode);
  const method = req.method ?? "GET";
  const is = (m: string, ...shape: Array<string | null>): boolean =>
    method === m && parts.length === shape.length && shape.every((s, i) => s === null || s === parts[i]);

  if (is("GET", "status") || is("GET", "health")) return json(res, 200, ctx.status());
  if (is("GET", "metrics")) {
    const text = ctx.metrics();
    res.writeHead(200, { "content-type": "text/plain; version=0.0.4", "content-length": Buffer.byteLength(text) });
    res.end(text);
    return 200;
  }
  if (parts[0] === "things" && parts.length >= 3) {
    const thing = thingOf(ctx, parts[1]!);
    if (is("PUT", "things", null, "properties", null)) {
      const body = asObject(await readJson(req, ctx.maxBodyBytes));
      if (!("value" in body)) throw bad('the body must be {"value": ...}');
      const queued = setOne(thing, parts[3]!, body.value, options(body));
      if (queued) await thing.durable();
      return json(res, 200, { queued });
    }
    if (is("PUT", "things", null, "properties")) {
      const body = asObject(await readJson(req, ctx.maxBodyBytes));
      const updates = batchOf(body);
      let queued = 0;
      try {
        for (const u of updates) if (setOne(thing, u.name, u.value, u.options)) queued += 1;
      } finally {
        if (queued > 0) await thing.durable();
      }
      return json(res, 200, { queued });
    }
    if (is("GET", "things", null, "properties")) {
      const out: Record<string, OutpostValue | undefined> = {};
      for (const name of thing.propertyNames()) out[name] = thing.handle.get(name);
      return json(res, 200, out);
    }
    if (is("POST", "things", null, "events", null)) {
      const body = asObject(await readJson(req, ctx.maxBodyBytes));
      const data = body.data === undefined ? {} : asObject(body.data, '"data"');
      const before = thing.queueSize();
      thing.handle.emit(parts[3]!, data as Record<string, JsonValue>, timestamp(body));
      thing.counters.events += 1;
      const queued = thing.queueSize() > before;
      if (queued) await thing.durable();
      return json(res, 200, { queued });
    }
    if (is("GET", "things", null, "services", null, "calls")) {
      const wait = Number(url.searchParams.get("timeout") ?? POLL_DEFAULT_MS / 1000) * 1000;
      if (!(wait >= 0)) throw bad("timeout must be a number of seconds");
      const gone = new AbortController();
      res.once("close", () => gone.abort());
      const call = await ctx.broker.next(thing.handle.name, parts[3]!, Math.min(wait, POLL_MAX_MS), gone.signal);
      if (!call) {
        res.writeHead(204).end();
        return 204;
      }
      return json(res, 200, call);
    }
  }
  if (parts[0] === "files") return fileRoute(ctx, req, res, method, parts, url);
  if (is("GET", "tunnels", "pending")) return json(res, 200, { pending: ctx.tunnels.list() });
  if (is("POST", "tunnels", "pending", null, "approve") || is("POST", "tunnels", "pending", null, "deny")) {
    if (!ctx.tunnels.decide(parts[2]!, parts[3] === "approve")) {
      throw new OutpostError(ErrorCode.NotFound, `no tunnel request ${parts[2]} is waiting`);
    }
    res.writeHead(204).end();
    return 204;
  }
  if (is("POST", "calls", null)) {
    const body = asObject(await readJson(req, ctx.maxBodyBytes));
    let outcome: Parameters<ServiceBroker["answer"]>[1];
    if ("result" in body) outcome = { result: body.result as JsonValue };
    else if (body.error !== undefined) {
      const e = asObject(body.error, '"error"');
      const status = typeof e.status === "number" && e.status >= 400 && e.status < 600 ? e.status : 500;
      outcome = { error: { message: String(e.message ?? "service failed"), status } };
    } else throw bad('the body must be {"result": ...} or {"error": {"message", "status"}}');
    if (!ctx.broker.answer(parts[1]!, outcome)) {
      throw new OutpostError(ErrorCode.NotFound, `no call ${parts[1]} is waiting (answered, expired or unknown)`);
    }
    res.writeHead(204).end();
    return 204;
  }
  throw new OutpostError(ErrorCode.NotFound, `no route ${method} ${url.pathname}`);
}

function setOne(thing: LocalThing, name: string, value: unknown, opts: SetOptions): boolean {
  if (value === undefined) throw bad(`property ${name}: no value`);
  const before = thing.queueSize();
  thing.handle.set(name, value as JsonValue, opts);
  thing.remember(name);
  thing.counters.propertySets += 1;
  return thing.queueSize() > before;
}

/**
 * The batch forms: `{"values": {"name": value, ...}}` (one value per property, shared `timestamp`
 * and `quality`) or `{"updates": [{"name", "value", "timestamp"?, "quality"?}, ...]}` (in order,
 * a property may repeat: buffered samples). Checked whole before anything is set.
 */
function batchOf(body: Record<string, unknown>): Array<{ name: string; value: unknown; options: SetOptions }> {
  if (Array.isArray(body.updates)) {
    return body.updates.map((u, i) => {
      const o = asObject(u, `updates[${i}]`);
      if (typeof o.name !== "string") throw bad(`updates[${i}].name must be a string`);
      if (!("value" in o)) throw bad(`updates[${i}] has no value`);
      return { name: o.name, value: o.value, options: options(o) };
    });
  }
  if (body.values === undefined) throw bad('the body must be {"values": {...}} or {"updates": [...]}');
  const opts = options(body);
  return Object.entries(asObject(body.values, '"values"')).map(([name, value]) => ({ name, value, options: opts }));
}

function thingOf(ctx: LocalApiContext, name: string): LocalThing {
  const t = ctx.thing(name);
  if (!t)
    throw new OutpostError(ErrorCode.NotFound, `Thing ${JSON.stringify(name)} is not in the configuration (things)`);
  return t;
}

function options(body: Record<string, unknown>): SetOptions {
  const q = body.quality;
  if (q !== undefined && q !== "good" && q !== "bad" && q !== "uncertain") {
    throw bad('quality must be "good", "bad" or "uncertain"');
  }
  return { ...timestamp(body), ...(q !== undefined && { quality: q }) };
}

function timestamp(body: Record<string, unknown>): { timestampMs?: number } {
  const t = body.timestamp;
  if (t === undefined) return {};
  if (typeof t !== "number" || !Number.isFinite(t) || t < 0) throw bad("timestamp must be ms since the epoch");
  return { timestampMs: t };
}

function json(res: ServerResponse, status: number, body: unknown): number {
  sendJson(res, status, body);
  return status;
}

function bad(message: string): OutpostError {
  return new OutpostError(ErrorCode.BadRequest, message);
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw bad("the path is not valid percent-encoding");
  }
}
