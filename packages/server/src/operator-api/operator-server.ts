import { randomUUID } from "node:crypto";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import type { TLSSocket } from "node:tls";
import { ErrorCode, OutpostError } from "@outpost/protocol";
import Fastify, { type FastifyRequest } from "fastify";
import type { pino } from "pino";
import type { AuditHealth } from "../audit/guard.js";
import type { AuditSink } from "../audit/types.js";
import { parseOperatorToken } from "../auth/app-keys.js";
import type { LoginService } from "../auth/login.js";
import { checkOperatorBearer, checkOperatorToken } from "../auth/operator-bearer.js";
import type { FailureLimiter } from "../auth/rate-limit.js";
import { CSRF_HEADER, csrfMatches, readCookie, SAFE_METHODS, SESSION_COOKIE } from "../auth/sessions.js";
import { allows } from "../auth/token-scope.js";
import { edgeTlsOptions } from "../edge/tls.js";
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import type { AsyncCredentialStore, AsyncRegistry } from "../registry/async-types.js";
import type { ThingService } from "../things/thing-service.js";
import type { TunnelRelay } from "../tunnels/relay.js";
import { EventLog } from "./event-log.js";
import { errorReply, refusalFromFramework, routeNotFound } from "./http-errors.js";
import { parseJsonBody } from "./json-body.js";
import type { FileRouteDeps } from "./file-routes.js";
import { configureRoutes } from "./openapi.js";
import { RefusalAudit } from "./refusal-audit.js";
import { scopeTargetOf } from "./route-scopes.js";
import type { Caller } from "./routes.js";

/** Options for {@link startOperatorApi}. */
export interface OperatorApiOptions {
  /** Interface to listen on. Default "127.0.0.1". */
  host?: string;
  /** Port; 0 picks a free one. Default 8444. */
  port?: number;
  certPem: string;
  keyPem: string;
  /**
   * The registry: operator tokens, Administrators, `tunnel.open`, the templates, Things and secret
   * flags of the design routes with their access decisions, and the transactions of design changes.
   */
  registry: Pick<
    AsyncRegistry,
    "checkOperator" | "isAdministrator" | "can" | "transaction" | "access" | "templates" | "secrets"
  >;
  audit: AuditSink;
  /** Whether the audit log can be written, shown by GET /api/health. Default: always "ok". */
  auditHealth?: () => AuditHealth;
  things: ThingService;
  logger: pino.Logger;
  /** Failed bearer-token checks per source address. */
  limiter: FailureLimiter;
  /** Largest accepted request body in bytes; larger is 413. Default 1 MiB. */
  maxBodyBytes?: number;
  /** A connection that completes no TLS handshake or sends no request within this time is closed, in ms. Default 30 000. */
  idleTimeoutMs?: number;
  /** How often open event streams re-check their bearer token (revocation ends them), in ms. Default 5 000. */
  revalidateIntervalMs?: number;
  /** Changes kept for event streams that reconnect with Last-Event-ID. Default 1 000 changes, at most 8 MiB. */
  replay?: { maxEvents?: number; maxBytes?: number };
  /** The tunnel relay behind /api/tunnels. Default: no tunnels. */
  tunnels?: TunnelRelay;
  /** Handles the WebSocket upgrade of GET /api/devices/{id}/tunnel (tunnels/upgrade.ts). Default: none. */
  tunnelUpgrade?: (req: IncomingMessage, socket: Duplex, head: Buffer) => Promise<void>;
  /** File transfer; without it the file routes answer 503. */
  files?: FileRouteDeps;
  /** Login sessions and tokens; without them only the tokens of `operator add` are accepted. */
  credentials?: Pick<AsyncCredentialStore, "check"> | undefined;
  /** Password logins (POST /api/login); without it the route answers 503. */
  login?: LoginService;
}

/** The running operator API. */
export interface OperatorApi {
  /** https://host:port */
  readonly url: string;
  /** The OpenAPI 3.1 document the API serves at /api/openapi.json. */
  openApi(): Record<string, unknown>;
  close(): Promise<void>;
}

interface OpenStream {
  caller: Caller;
  stop: () => void;
}

/** Starts the HTTPS JSON operator API (docs/operator-api.md, docs/openapi.json). */
export async function startOperatorApi(options: OperatorApiOptions): Promise<OperatorApi> {
  const idleTimeoutMs = options.idleTimeoutMs ?? 30_000;
  const streams = new Set<OpenStream>();
  const events = new EventLog(options.things, options.replay);
  const refusals = new RefusalAudit(options.audit);
  let server: Server | undefined;

  const app = Fastify({
    bodyLimit: options.maxBodyBytes ?? 1024 * 1024,
    logger: false,
    genReqId: () => randomUUID(),
    // Requests may wait long for a device (timeoutMs up to 10 min) and event streams are open-ended.
    requestTimeout: 0,
    serverFactory: (handler) => {
      server = createServer(
        { ...edgeTlsOptions({ certPem: options.certPem, keyPem: options.keyPem }), handshakeTimeout: idleTimeoutMs },
        (req, res) => {
          req.socket.setTimeout(0);
          handler(req, res);
        },
      );
      // Node's headersTimeout starts only with the first byte: without this, a connection that
      // never sends a request stays open for ever.
      server.on("secureConnection", (socket: TLSSocket) => {
        socket.setTimeout(idleTimeoutMs, () => socket.destroy());
      });
      const upgrade = options.tunnelUpgrade;
      if (upgrade) {
        server.on("upgrade", (req, socket, head) => {
          (socket as TLSSocket).setTimeout(0);
          upgrade(req, socket, head).catch((err: unknown) => {
            options.logger.error({ err }, "tunnel upgrade failed");
            socket.destroy();
          });
        });
      }
      return server;
    },
    ajv: { customOptions: { coerceTypes: "array", allErrors: false } },
    frameworkErrors: (err, req, reply) => {
      const refusal = refusalFromFramework(err);
      refusals.record(req, refusal);
      void errorReply(reply, refusal);
    },
  });

  app.removeAllContentTypeParsers();
  // Every body is read as JSON whatever its content-type (as curl -d sends form encoding).
  app.addContentTypeParser("*", { parseAs: "string" }, (_req, body, done) => {
    try {
      done(null, parseJsonBody(body as string));
    } catch (err) {
      done(err as Error, undefined);
    }
  });

  // The access log: one line per request once its answer is sent (or its event stream ends). It
  // names the route template, never the URL (a query may hold anything), nor headers or bodies.
  app.addHook("onRequest", async (req, reply) => {
    const started = performance.now();
    reply.header("x-request-id", req.id);
    reply.raw.once("close", () => {
      const route = req.routeOptions.url ?? "(no route)";
      const status = reply.raw.statusCode;
      const durationMs = Math.round((performance.now() - started) * 10) / 10;
      const operator = req.caller?.principal.id;
      options.logger.info(
        { reqId: req.id, method: req.method, route, status, durationMs, ...(operator !== undefined && { operator }) },
        `${req.method} ${route} ${status} ${durationMs} ms ${operator ?? "-"} ${req.id}`,
      );
    });
  });

  app.addHook("onRequest", async (req) => {
    if (req.routeOptions.config.auth === false || req.is404) return;
    req.caller = await authenticate(req);
  });

  // A narrowed login token reaches only what its scope names (docs/authentication.md).
  app.addHook("preHandler", async (req) => {
    const scope = req.caller?.login?.scope;
    if (!scope || allows(scope, scopeTargetOf(req))) return;
    const route = `${req.method} ${req.routeOptions.url ?? ""}`;
    throw refuse(req, 403, ErrorCode.Forbidden, "this request is outside the token's scope", {
      action: route,
      reason: "token scope",
      tokenId: req.caller?.login?.tokenId,
    });
  });

  app.setErrorHandler(async (err, req, reply) => {
    const refusal = refusalFromFramework(err);
    if (refusal.status >= 500 && !(err instanceof OutpostError && err.code !== ErrorCode.Internal)) {
      options.logger.error({ err, method: req.method, route: req.routeOptions.url }, "operator API request failed");
    }
    refusals.record(req, refusal, err);
    if (reply.sent || reply.raw.headersSent) {
      reply.raw.destroy();
      return reply;
    }
    return errorReply(reply, refusal);
  });

  app.setNotFoundHandler(async (req, reply) => {
    const refusal = routeNotFound(req.method, req.url);
    refusals.record(req, refusal);
    return errorReply(reply, refusal);
  });

  await configureRoutes(app, {
    things: options.things,
    events,
    auditHealth: options.auditHealth ?? (() => ({ state: "ok" })),
    files: () => options.files,
    deny: (req, message, details) => {
      const err = new OutpostError(ErrorCode.Forbidden, message, { status: 403 });
      refusals.record(req, { status: 403, code: err.code, message }, undefined, details);
      return err;
    },
    track: (caller, stop, closed) => {
      const entry = { caller, stop };
      streams.add(entry);
      void closed.then(() => streams.delete(entry));
    },
    login: () => options.login,
    access: {
      registry: options.registry,
      audit: options.audit,
    },
    templates: {
      registry: options.registry,
      audit: options.audit,
    },
    tunnels: {
      relay: options.tunnels,
      canOpen: (c, deviceId) => options.registry.can(c.principal, deviceId, "tunnel.open"),
    },
  });

  async function authenticate(req: FastifyRequest): Promise<Caller> {
    const source = req.ip;
    if (options.limiter.isBlocked(source)) {
      const refusal = { status: 429, code: ErrorCode.TooManyRequests, message: "too many failed attempts, try later" };
      refusals.record(req, refusal, undefined, { reason: "rate-limited" });
      throw new OutpostError(refusal.code, refusal.message, { status: 429 });
    }
    // The Authorization header wins; without it a browser session's cookie is used.
    const header = req.headers.authorization;
    const cookie = header === undefined ? readCookie(req.headers.cookie, SESSION_COOKIE) : undefined;
    const via = cookie === undefined ? "bearer" : "cookie";
    const { check, token } = await checkOperatorBearer(options, cookie ?? header, source, via);
    if (!check.ok) {
      req.refusalAudited = true;
      throw new OutpostError(
        ErrorCode.Unauthorized,
        via === "cookie" ? "the session has ended: log in again" : "a valid bearer token is required",
        { status: 401 },
      );
    }
    if (via === "cookie" && !SAFE_METHODS.has(req.method) && !csrfMatches(token, req.headers[CSRF_HEADER])) {
      throw refuse(
        req,
        403,
        ErrorCode.Forbidden,
        `a request made with the session cookie needs the ${CSRF_HEADER} header`,
        {
          action: `${req.method} ${req.routeOptions.url ?? ""}`,
          reason: "csrf",
          operator: check.operator.name,
        },
      );
    }
    const login = check.login;
    const groups = login?.groups ?? [];
    const principal: Caller["principal"] = {
      kind: "operator",
      id: check.operator.name,
      ...(groups.length > 0 ? { groups: [...groups] } : {}),
    };
    return {
      principal,
      // Membership of Administrators, stored or from the directory; a narrowed token never carries admin rights.
      admin: (await options.registry.isAdministrator(principal)) && (login?.scope ?? null) === null,
      source,
      token,
      via,
      ...(login ? { login } : {}),
    };
  }

  function refuse(
    req: FastifyRequest,
    status: number,
    code: ErrorCode,
    message: string,
    details: Record<string, unknown>,
  ): OutpostError {
    refusals.record(req, { status, code, message }, undefined, details);
    return new OutpostError(code, message, { status });
  }

  // A token revoked (by the CLI, in another process) ends the streams opened with it.
  let revalidating = false;
  const revalidate = async (): Promise<void> => {
    for (const s of [...streams]) {
      try {
        const check = await checkOperatorToken(options, s.caller.token, s.caller.via);
        if (check.ok) continue;
        const parsed = parseOperatorToken(s.caller.token);
        options.audit.append({
          type: "denied",
          actor: `operator:${s.caller.principal.id}`,
          outcome: "failure",
          source: s.caller.source,
          code: ErrorCode.Unauthorized,
          details: {
            action: "events.stream",
            reason: `token ${check.reason}`,
            ...(parsed.ok ? { tokenId: parsed.id } : {}),
          },
        });
        streams.delete(s);
        s.stop();
      } catch (err) {
        options.logger.error({ err }, "event stream revalidation failed");
      }
    }
  };
  const revalidation = setInterval(() => {
    if (revalidating) return;
    revalidating = true;
    void revalidate().finally(() => (revalidating = false));
  }, options.revalidateIntervalMs ?? 5_000);
  revalidation.unref();

  const host = options.host ?? "127.0.0.1";
  try {
    await app.listen({ port: options.port ?? 8444, host });
  } catch (err) {
    clearInterval(revalidation);
    events.close();
    throw err;
  }
  const port = (server!.address() as AddressInfo).port;
  options.logger.info({ host, port }, "operator API listening");
  return {
    url: `https://${host.includes(":") ? `[${host}]` : host}:${port}`,
    openApi: () => app.swagger() as unknown as Record<string, unknown>,
    async close() {
      clearInterval(revalidation);
      options.tunnels?.closeAll();
      for (const s of streams) s.stop();
      streams.clear();
      events.close();
      const timer = setTimeout(() => server?.closeAllConnections(), 1_000);
      timer.unref();
      await app.close();
      clearTimeout(timer);
    },
  };
}
