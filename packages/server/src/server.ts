import { randomUUID } from "node:crypto";
import {
  FILE_STREAM_TYPE,
  type OutpostValue,
  type ProtocolLimits,
  resolveLimits,
  withAnnouncedWindows,
  StreamResetCode,
} from "@outpost/protocol";
import type { pino } from "pino";
import { AuditGuard, type AuditHealth } from "./audit/guard.js";
import type { AuditSink } from "./audit/types.js";
import { type Authenticator, LocalAuthenticator } from "./auth/authenticator.js";
import { type LockoutOptions, LoginLockout } from "./auth/lockout.js";
import { type LoginOptions, LoginService } from "./auth/login.js";
import { FailureLimiter } from "./auth/rate-limit.js";
import type { EdgeDeps } from "./edge/context.js";
import { type DeviceLimitOptions, DeviceLimits } from "./edge/device-limits.js";
import { type EdgeEndpointOptions, type EdgeServer, startEdgeServer } from "./edge/edge-server.js";

export type { EdgeEndpointOptions } from "./edge/edge-server.js";
import type { StreamHandler } from "./edge/session.js";
import { type FileServiceOptions, TransferManager } from "./files/transfers.js";
import { silentLogger } from "./logging/logger.js";
import { type OperatorApi, startOperatorApi } from "./operator-api/operator-server.js";
import { asyncRegistryOf } from "./registry/async-sqlite.js";
import type { AsyncCredentialStore, Registry } from "./registry/async-types.js";
import { SqliteRegistry } from "./registry/sqlite.js";
import { registerBuiltinServices } from "./things/builtin-services.js";
import { ChangeHub } from "./things/changes.js";
import { DeviceLinks } from "./things/device-links.js";
import { type ServerServiceHandler, ServerServices } from "./things/server-services.js";
import { ThingService } from "./things/thing-service.js";
import { TunnelRelay } from "./tunnels/relay.js";
import { tunnelUpgradeHandler } from "./tunnels/upgrade.js";
import type { TunnelRelayOptions } from "./tunnels/types.js";

/** Operator API options. */
export interface OperatorEndpointOptions {
  /** Interface to listen on. Default "127.0.0.1". */
  host?: string;
  /** Port; 0 picks a free one. Default 8444. */
  port?: number;
  certPem: string;
  keyPem: string;
  /** Largest request body accepted, in bytes. Default 1 MiB. */
  maxBodyBytes?: number;
  /** A connection that sends no request within this time is closed, in ms. Default 30 000. */
  idleTimeoutMs?: number;
  /** How often open event streams re-check their bearer token (a revoked token ends them), in ms. Default 5 000. */
  revalidateIntervalMs?: number;
  /** Changes kept for event streams that reconnect with Last-Event-ID. Default: the last 1 000, at most 8 MiB. */
  replay?: { maxEvents?: number; maxBytes?: number };
}

/** Failure limits for device and operator authentication. */
export interface AuthRateLimitOptions {
  /** Failures allowed per window, per source address and per key id. Default 5. */
  maxFailures?: number;
  /** Counting window, in ms. Default 60 000. */
  windowMs?: number;
  /** How long a blocked source or key stays blocked, in ms. Default 60 000. */
  blockMs?: number;
}

/** Options for {@link startServer}. */
export interface ServerOptions {
  /**
   * The registry: the embedded SQLite registry (the server uses its asynchronous view,
   * `asyncRegistryOf`) or any implementation of the asynchronous contract.
   */
  registry: SqliteRegistry | Registry;
  audit: AuditSink;
  edge: EdgeEndpointOptions;
  /** The HTTPS operator API; false (the default when omitted) disables it. */
  operator?: OperatorEndpointOptions | false;
  /** Default: a logger that writes nothing. Use createLogger() for one that redacts secrets. */
  logger?: pino.Logger;
  /** Limits enforced on what devices send. Default: the protocol defaults. */
  limits?: Partial<ProtocolLimits>;
  /** Bounds a device cannot lift: properties per Thing, events per second (see DeviceLimitOptions). */
  deviceLimits?: DeviceLimitOptions;
  /** Default timeout of requests to devices, in ms. Default 30 000. */
  requestTimeoutMs?: number;
  /** How long a write to an offline Thing is held as desired state when the write does not say, in ms. Default 24 h (at most 30 days). */
  desiredTtlMs?: number;
  /** How often expired desired values are reported and removed, in ms. Default 60 000. */
  desiredSweepMs?: number;
  authRateLimit?: AuthRateLimitOptions;
  /** Tunnel relay limits (docs/tunnels.md); false disables tunnels. Default: on, with the defaults of TunnelRelayOptions. */
  tunnels?: TunnelRelayOptions | false;
  /** Offer the diagnostic services `outpost.echo` and `outpost.time` to every Thing. Default true. */
  builtinServices?: boolean;
  /** File repository and transfers (docs/files.md). Default: none (file routes answer 503). */
  files?: FileServiceOptions;
  /** Operator passwords and login tokens (docs/authentication.md). Default: those of `registry`. */
  credentials?: AsyncCredentialStore;
  /** Password login lifetimes and lockout (config.json `login`). */
  login?: LoginOptions & { lockout?: LockoutOptions };
  /** Authenticators asked after the local passwords, in order (e.g. LDAP). Closed with the server. */
  authenticators?: Authenticator[];
}

/** Context given to a server-side service handler. */
export interface ServerServiceCallContext {
  deviceId: string;
  thing: string;
}

/** What {@link OutpostServer.health} reports. */
export interface ServerHealth {
  /** "ok", or "failing" while the audit log cannot be written (device logins are then refused). */
  audit: AuditHealth;
}

/** A running Outpost server. */
export interface OutpostServer {
  /** wss://host:port of the edge endpoint. */
  readonly edgeUrl: string;
  /** Edge connections between TCP accept and Auth, waiting for a handshake slot, and open, now. */
  readonly edgeAdmission: EdgeServer["admission"];
  /** https://host:port of the operator API, or undefined when disabled. */
  readonly operatorUrl: string | undefined;
  /** The tunnel relay (open sessions, buffered bytes), or undefined when tunnels are disabled. */
  readonly tunnels: TunnelRelay | undefined;
  /** The same operations the operator API exposes, for library users. */
  readonly things: ThingService;
  /** Register a server-side service that devices can invoke ("*" = any Thing). */
  registerService(
    thing: string,
    name: string,
    handler: (
      params: Record<string, OutpostValue>,
      ctx: ServerServiceCallContext,
    ) => Promise<OutpostValue> | OutpostValue,
  ): void;
  /** File transfers, when the `files` option is given. */
  readonly files: TransferManager | undefined;
  /** Whether the server can do its job now: today, whether its audit log can be written. */
  health(): ServerHealth;
  /** Graceful: Goodbye{SHUTDOWN} to every device, close sockets, flush audit. */
  close(): Promise<void>;
}

/** Starts the edge endpoint and, when configured, the operator API. */
export async function startServer(options: ServerOptions): Promise<OutpostServer> {
  const logger = options.logger ?? silentLogger();
  const limits = resolveLimits(withAnnouncedWindows(options.limits));
  const requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
  const rate = { maxFailures: 5, windowMs: 60_000, blockMs: 60_000, ...stripUndefined(options.authRateLimit) };
  const links = new DeviceLinks();
  const hub = new ChangeHub((err) => logger.error({ err }, "change subscriber failed"));
  const services = new ServerServices();
  if (options.builtinServices !== false) registerBuiltinServices(services);
  // Every component writes through the guard: a sink that throws (disk full) is contained there.
  const audit = new AuditGuard(options.audit, logger);
  // One asynchronous view (one queue) for all the registry's users.
  const registry: Registry =
    options.registry instanceof SqliteRegistry ? asyncRegistryOf(options.registry) : options.registry;
  const things = new ThingService({
    registry,
    audit,
    links,
    hub,
    requestTimeoutMs,
    ...(options.desiredTtlMs !== undefined ? { desiredTtlMs: options.desiredTtlMs } : {}),
  });
  const expireDesired = async (): Promise<void> => {
    try {
      await things.expireDesired();
    } catch (err) {
      logger.error({ err }, "expiring desired values failed");
    }
  };
  const deps: EdgeDeps = {
    registry,
    audit,
    logger,
    links,
    hub,
    services,
    sourceLimiter: new FailureLimiter(rate),
    keyLimiter: new FailureLimiter(rate),
    identityLimiter: new FailureLimiter(rate),
    deviceLimits: new DeviceLimits(stripUndefined(options.deviceLimits)),
    limits,
    serverId: randomUUID(),
    authDeadlineMs: options.edge.authDeadlineMs ?? 10_000,
    requestTimeoutMs,
    clientCert: options.edge.clientCert ?? "required",
    onBind: (_deviceId, bound) => {
      for (const thing of bound) {
        things
          .applyDesired(thing)
          .catch((err: unknown) => logger.error({ err, thing }, "applying desired values failed"));
      }
    },
  };
  if (deps.clientCert === "optional") {
    logger.warn("client certificates are optional: devices may authenticate with an application key alone");
  }
  const files = options.files && new TransferManager({ registry, audit, links, logger }, options.files);
  const userOnStream = options.edge.onStream;
  const onStream: StreamHandler | undefined =
    files || userOnStream
      ? (stream, device) => {
          if (files && stream.type === FILE_STREAM_TYPE) files.serveDevice(stream, device.deviceId);
          else if (userOnStream) userOnStream(stream, device);
          else stream.reset(StreamResetCode.Refused, `stream type ${JSON.stringify(stream.type)} is not served`);
        }
      : undefined;
  const tunnels =
    options.tunnels === false ? undefined : new TunnelRelay(options.tunnels ?? {}, { links, audit, logger });
  const credentials = options.credentials ?? registry.credentials;
  const extraAuthenticators = options.authenticators ?? [];
  const login = new LoginService({
    credentials,
    authenticators: [new LocalAuthenticator(credentials), ...extraAuthenticators],
    lockout: new LoginLockout(options.login?.lockout),
    audit,
    ...(options.login && { options: options.login }),
    onUnavailable: (by, detail) => logger.error({ authenticator: by, detail }, "login directory unavailable"),
  });
  let operator: OperatorApi | undefined;
  if (options.operator) {
    const limiter = new FailureLimiter(rate);
    try {
      operator = await startOperatorApi({
        ...stripUndefined(options.operator),
        registry,
        audit,
        auditHealth: () => audit.health,
        things,
        logger,
        limiter,
        ...(tunnels && {
          tunnels,
          tunnelUpgrade: tunnelUpgradeHandler({
            registry,
            audit,
            limiter,
            relay: tunnels,
            credentials,
          }),
        }),
        ...(files && { files: { manager: files, registry, links, audit } }),
        credentials,
        login,
      });
    } catch (err) {
      files?.close();
      throw err;
    }
  }
  // The operator API is built first: building it blocks the event loop for a while (route
  // schemas are compiled), and devices that reconnect meanwhile had better be refused than queued
  // behind a loop that cannot serve them.
  let edge: EdgeServer;
  try {
    edge = await startEdgeServer({
      ...stripUndefined(options.edge),
      ...(onStream && { onStream }),
      deps,
    });
  } catch (err) {
    files?.close();
    await operator?.close();
    throw err;
  }
  await expireDesired();
  const sweep = setInterval(expireDesired, options.desiredSweepMs ?? 60_000);
  sweep.unref();
  let closing: Promise<void> | undefined;
  return {
    edgeUrl: edge.url,
    edgeAdmission: edge.admission,
    operatorUrl: operator?.url,
    things,
    tunnels,
    files,
    registerService(thing, name, handler: ServerServiceHandler) {
      services.register(thing, name, handler);
    },
    health() {
      return { audit: audit.health };
    },
    close() {
      closing ??= (async () => {
        clearInterval(sweep);
        files?.close();
        await Promise.all([edge.close(), operator?.close()]);
        await Promise.all(extraAuthenticators.map((a) => a.close?.()));
        await audit.flush();
        logger.info("server stopped");
      })();
      return closing;
    },
  };
}

type Defined<T> = { [K in keyof T]: Exclude<T[K], undefined> };

function stripUndefined<T extends object>(value: T | undefined): Defined<T> {
  const out: Record<string, unknown> = {};
  if (value) for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = v;
  return out as Defined<T>;
}
