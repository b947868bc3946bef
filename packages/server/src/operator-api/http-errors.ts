import { ErrorCode, isOutpostError, statusFromError } from "@outpost/protocol";
import type { FastifyReply } from "fastify";
import { ROUTE_PATHS } from "./routes.js";

/** An error answer: HTTP status, stable code, one sentence, and the request field at fault. */
export interface Refusal {
  status: number;
  code: ErrorCode;
  message: string;
  field?: string;
}

interface ValidationIssue {
  instancePath?: string;
  params?: { missingProperty?: string };
}

interface FrameworkError {
  code?: string;
  statusCode?: number;
  message?: string;
  validation?: ValidationIssue[];
  validationContext?: string;
}

/**
 * Maps anything a route or fastify throws to the API's error answer: schema failures are 400 with
 * the field named, fastify's own refusals keep their 4xx status, a device that did not answer in
 * time is 504, and anything unknown is a generic 500.
 */
export function refusalFromFramework(err: unknown): Refusal {
  if (isOutpostError(err)) {
    const { status, code, message } = statusFromError(err);
    const http = code === ErrorCode.Timeout ? 504 : status >= 400 && status <= 599 ? status : 500;
    return { status: http, code, message };
  }
  const e = (err ?? {}) as FrameworkError;
  if (Array.isArray(e.validation)) {
    const issue = e.validation[0] ?? {};
    const path = (issue.instancePath ?? "") + (issue.params?.missingProperty ? `/${issue.params.missingProperty}` : "");
    const field = `${e.validationContext ?? "request"}${path}`;
    return { status: 400, code: ErrorCode.BadRequest, message: e.message ?? `${field} is invalid`, field };
  }
  if (e.code === "FST_ERR_CTP_BODY_TOO_LARGE") {
    return { status: 413, code: ErrorCode.PayloadTooLarge, message: "request body exceeds the size limit" };
  }
  if (e.code === "FST_ERR_BAD_URL") {
    return { status: 400, code: ErrorCode.BadRequest, message: "request target is not a valid URL" };
  }
  if (typeof e.code === "string" && e.code.startsWith("FST_") && e.statusCode && e.statusCode < 500) {
    return { status: e.statusCode, code: ErrorCode.BadRequest, message: e.message ?? "bad request" };
  }
  return { status: 500, code: ErrorCode.Internal, message: "internal error" };
}

/** 405 when the path exists for another method, else 404. */
export function routeNotFound(method: string, url: string): Refusal {
  const path = url.split("?")[0] ?? "";
  const segments = path.split("/").filter((s) => s.length > 0);
  const known = ROUTE_PATHS.some((r) => {
    const pattern = r.url.split("/").filter((s) => s.length > 0);
    return pattern.length === segments.length && pattern.every((p, i) => p.startsWith(":") || p === segments[i]);
  });
  if (known) return { status: 405, code: ErrorCode.BadRequest, message: `method ${method} not allowed here` };
  return { status: 404, code: ErrorCode.NotFound, message: `no such endpoint: ${path.slice(0, 200)}` };
}

/** Sends `{"error": {"code", "message", "field"?}}` with the refusal's status. */
export function errorReply(reply: FastifyReply, refusal: Refusal): FastifyReply {
  if (refusal.status === 401) void reply.header("www-authenticate", 'Bearer realm="outpost"');
  const error: Record<string, string> = { code: refusal.code, message: refusal.message };
  if (refusal.field !== undefined) error.field = refusal.field;
  return reply.code(refusal.status).type("application/json; charset=utf-8").send({ error });
}
