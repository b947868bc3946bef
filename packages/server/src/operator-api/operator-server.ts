import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import type { TLSSocket } from "node:tls";
import { ErrorCode, OutpostError } from "@outpost/protocol";
import type { pino } from "pino";
import type { AuditSink } from "../audit/types.js";
import { parseOperatorToken } from "../auth/app-keys.js";
import type { FailureLimiter } from "../auth/rate-limit.js";
import { edgeTlsOptions } from "../edge/tls.js";
import type { Principal, Registry } from "../registry/types.js";
import type { ThingService } from "../things/thing-service.js";
import { sendError, sendJson } from "./http-io.js";
import { matchRoute } from "./routes.js";

/** Options for {@link startOperatorApi}. */
export interface OperatorApiOptions {
  /** Interface to listen on. Default "127.0.0.1". */
  host?: string;
  /** Port; 0 picks a free one. Default 8444. */
  port?: number;
  certPem: string;
  keyPem: string;
  registry: Registry;
  audit: AuditSink;
  things: ThingService;
  logger: pino.Logger;
  /** Failed bearer-token checks per source address. */
  limiter: FailureLimiter;
  /** Largest accepted request body in bytes; larger is 413. Default 1 MiB. */
  maxBodyBytes?: number;
  /** A connection that completes no TLS handshake or sends no request within this time is closed, in ms. Default 30 000. */
  idleTimeoutMs?: number;
}

/** The running operator API. */
export interface OperatorApi {
  /** https://host:port */
  readonly url: string;
  close(): Promise<void>;
}

/** Starts the HTTPS JSON operator API (docs/operator-api.md). */
export async function startOperatorApi(options: OperatorApiOptions): Promise<OperatorApi> {
  const maxBodyBytes = options.maxBodyBytes ?? 1024 * 1024;
  const streams = new Set<() => void>();
  const idleTimeoutMs = options.idleTimeoutMs ?? 30_000;
  const server: Server = createServer(
    { ...edgeTlsOptions({ certPem: options.certPem, keyPem: options.keyPem }), handshakeTimeout: idleTimeoutMs },
    (req, res) => {
      // Requests may wait long for a device (timeoutMs up to 10 min) and event streams are open-ended.
      req.socket.setTimeout(0);
      void handle(req, res).catch((err: unknown) => {
        options.logger.error({ err }, "operator API request failed");
        sendError(res, err);
      });
    },
  );

  // Node's headersTimeout starts only with the first byte: without this, a connection that never
  // sends a request stays open for ever.
  server.on("secureConnection", (socket: TLSSocket) => {
    socket.setTimeout(idleTimeoutMs, () => socket.destroy());
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const url = parseUrl(req.url);
      if (req.method === "GET" && url.pathname === "/api/health") {
        sendJson(res, 200, { status: "ok" });
        return;
      }
      const route = matchRoute(req.method ?? "GET", url.pathname);
      const { principal, admin } = authorize(req);
      const abort = new AbortController();
      res.on("close", () => abort.abort());
      await route.handler({
        req,
        res,
        url,
        params: route.params,
        principal,
        admin,
        things: options.things,
        maxBodyBytes,
        signal: abort.signal,
        track: (stop) => {
          streams.add(stop);
          res.on("close", () => streams.delete(stop));
        },
      });
    } catch (err) {
      sendError(res, err);
    }
  }

  function authorize(req: IncomingMessage): { principal: Principal; admin: boolean } {
    const source = req.socket.remoteAddress ?? "unknown";
    if (options.limiter.isBlocked(source)) {
      throw new OutpostError(ErrorCode.TooManyRequests, "too many failed attempts, try later", { status: 429 });
    }
    const header = req.headers.authorization ?? "";
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    const token = match?.[1] ?? "";
    const check = options.registry.checkOperator(token);
    if (!check.ok) {
      options.limiter.recordFailure(source);
      const parsed = parseOperatorToken(token);
      options.audit.append({
        type: "operator.login.failure",
        actor: parsed.ok ? `token:${parsed.id}` : "unknown",
        outcome: "failure",
        source,
        code: ErrorCode.Unauthorized,
        details: { reason: header ? check.reason : "missing" },
      });
      throw new OutpostError(ErrorCode.Unauthorized, "a valid bearer token is required", { status: 401 });
    }
    options.limiter.recordSuccess(source);
    return { principal: { kind: "operator", id: check.operator.name }, admin: check.operator.admin };
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 8444, options.host ?? "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const host = options.host ?? "127.0.0.1";
  const port = (server.address() as AddressInfo).port;
  options.logger.info({ host, port }, "operator API listening");
  return {
    url: `https://${host.includes(":") ? `[${host}]` : host}:${port}`,
    async close() {
      for (const stop of streams) stop();
      server.closeIdleConnections();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        setTimeout(() => server.closeAllConnections(), 1_000).unref();
      });
    },
  };
}

function parseUrl(raw: string | undefined): URL {
  try {
    return new URL(raw ?? "/", "https://operator.invalid");
  } catch {
    throw new OutpostError(ErrorCode.BadRequest, "request target is not a valid URL", { status: 400 });
  }
}
