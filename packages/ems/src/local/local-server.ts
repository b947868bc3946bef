import { chmodSync, existsSync, mkdirSync, unlinkSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { connect } from "node:net";
import { dirname } from "node:path";
import { ErrorCode, httpDate, OutpostError } from "@outpost/protocol";
import type { Logger } from "@outpost/sdk";
import type { Socket } from "node:net";
import { checkRequest, isLoopback, parseHostPort } from "./guards.js";
import { tcpPeerUid } from "./peer-uid.js";
import { sendError } from "./http-util.js";
import { type LocalApiContext, route } from "./routes.js";

/** Options of {@link LocalApiServer}. */
export interface LocalApiOptions {
  /** Unix socket path (its directory is created with mode 0750). */
  socket: string;
  /** Also listen on this `host:port` (loopback only unless `allowNonLoopback`). Default: no TCP. */
  tcp?: string;
  allowNonLoopback?: boolean;
  /** Bearer token required on TCP. */
  token?: string;
  logger: Logger;
}

/** Counts of answers by class and of refusals by reason, for metrics. */
export interface LocalApiCounters {
  requests: Record<string, number>;
  refused: Record<string, number>;
}

/** The local API: HTTP on a Unix socket (mode 0660) and optionally on loopback TCP. */
export class LocalApiServer {
  readonly counters: LocalApiCounters = { requests: {}, refused: {} };
  private servers: Server[] = [];
  private readonly peerUids = new WeakMap<Socket, number | undefined>();
  /** The TCP address once listening. */
  tcpAddress: { host: string; port: number } | undefined;

  constructor(
    private readonly ctx: LocalApiContext,
    private readonly options: LocalApiOptions,
  ) {}

  async listen(): Promise<void> {
    const o = this.options;
    let tcp: { host: string; port: number } | undefined;
    if (o.tcp) {
      tcp = parseHostPort(o.tcp);
      if (!isLoopback(tcp.host) && !o.allowNonLoopback) {
        throw new OutpostError(
          ErrorCode.InvalidConfig,
          `local.tcp ${o.tcp} is not a loopback address: anyone on the network would get the device's rights (set local.allowNonLoopback true to force it)`,
        );
      }
      if (!o.token) throw new OutpostError(ErrorCode.InvalidConfig, "local.tcp needs local.token");
    }
    mkdirSync(dirname(o.socket), { recursive: true, mode: 0o750 });
    await removeStaleSocket(o.socket);
    const unix = this.server("unix");
    await listen(unix, { path: o.socket });
    chmodSync(o.socket, 0o660);
    this.servers.push(unix);
    if (tcp) {
      const s = this.server("tcp");
      await listen(s, { host: tcp.host, port: tcp.port });
      this.servers.push(s);
      const a = s.address();
      if (a && typeof a === "object") this.tcpAddress = { host: a.address, port: a.port };
    }
    o.logger.info("local API listening", { socket: o.socket, ...(this.tcpAddress && { tcp: this.tcpAddress }) });
  }

  async close(): Promise<void> {
    await Promise.all(
      this.servers.map(
        (s) =>
          new Promise<void>((resolve) => {
            s.close(() => resolve());
            s.closeAllConnections();
          }),
      ),
    );
    this.servers = [];
    if (existsSync(this.options.socket)) unlinkSync(this.options.socket);
  }

  private server(via: "unix" | "tcp"): Server {
    const s = createServer({ maxHeaderSize: 16 * 1024 }, (req, res) => void this.handle(req, res, via));
    s.headersTimeout = 10_000;
    s.requestTimeout = 0;
    s.keepAliveTimeout = 5_000;
    s.maxConnections = 256;
    s.maxRequestsPerSocket = 0;
    s.on("clientError", (_err, socket) => socket.destroy());
    // Node offers no SO_PEERCRED, and /proc shows no peer of a Unix socket: there the file's
    // mode and group are the access control. A TCP peer's uid is in /proc/net/tcp[6].
    if (via === "tcp") {
      s.on("connection", (socket: Socket) => {
        const peerUid = tcpPeerUid(socket);
        this.peerUids.set(socket, peerUid);
        this.options.logger.info("local API connection", {
          via,
          remote: socket.remoteAddress,
          remotePort: socket.remotePort,
          peerUid: peerUid ?? null,
        });
      });
    }
    return s;
  }

  private async handle(req: IncomingMessage, res: ServerResponse, via: "unix" | "tcp"): Promise<void> {
    // Node's own Date header comes from Date#toUTCString, which sets up V8's ICU time-zone cache.
    res.setHeader("Date", httpDate());
    let status: number;
    try {
      checkRequest(req, via, this.options.token);
      status = await route(this.ctx, req, res);
    } catch (err) {
      status = res.headersSent ? 500 : sendError(res, err);
      if (status === 401 || status === 403) {
        const reason = status === 401 ? "token" : req.headers.origin !== undefined ? "origin" : "host";
        this.counters.refused[reason] = (this.counters.refused[reason] ?? 0) + 1;
        this.options.logger.warn("local API request refused", {
          via,
          method: req.method,
          path: req.url,
          reason,
          ...(via === "tcp" && { remote: req.socket.remoteAddress, peerUid: this.peerUids.get(req.socket) ?? null }),
        });
      }
      if (status >= 500 && status !== 503 && status !== 507) {
        this.options.logger.error("local API request failed", { method: req.method, path: req.url, error: err });
      }
      if (!res.writableEnded) res.end();
    }
    const cls = `${Math.floor(status / 100)}xx`;
    this.counters.requests[cls] = (this.counters.requests[cls] ?? 0) + 1;
  }
}

function listen(s: Server, where: { path: string } | { host: string; port: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    s.once("error", reject);
    s.listen(where, () => {
      s.off("error", reject);
      resolve();
    });
  });
}

/** Removes a socket file left by a crashed daemon; refuses when another daemon answers on it. */
async function removeStaleSocket(path: string): Promise<void> {
  if (!existsSync(path)) return;
  const alive = await new Promise<boolean>((resolve) => {
    const c = connect({ path }, () => {
      c.destroy();
      resolve(true);
    });
    c.on("error", () => resolve(false));
  });
  if (alive) throw new OutpostError(ErrorCode.Conflict, `another outpost-ems is running on ${path}`);
  unlinkSync(path);
}
