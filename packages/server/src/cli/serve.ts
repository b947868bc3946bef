import { createPrivateKey, X509Certificate } from "node:crypto";
import { ErrorCode, isOutpostError, OutpostError } from "@outpost/protocol";
import type { FileAuditLog } from "../audit/audit-log.js";
import { openDataAuditLog } from "../audit/open.js";
import { LdapAuthenticator } from "../auth/ldap.js";
import { ldapOptionsFromConfig } from "../config/ldap-files.js";
import type { DataPaths } from "../config/layout.js";
import { loadServerConfig } from "../config/server-config.js";
import { TicketKeyFile } from "../config/ticket-keys.js";
import { createLogger, defaultLogFormat, LOG_FORMATS, LOG_LEVELS, type LogFormat } from "../logging/logger.js";
import { loadDataKey } from "../secrets/data-key.js";
import { dataKeyLoader } from "../secrets/rotate.js";
import { asyncRegistryOf } from "../registry/async-sqlite.js";
import { SqliteRegistry } from "../registry/sqlite.js";
import { DiskFileRepository } from "../files/repository.js";
import { startServer } from "../server.js";
import { readInputFile } from "./util.js";

/** Options for {@link serve}. */
export interface ServeOptions {
  /** Data directory created by `init`. */
  dataDir: string;
  /** Edge port instead of the one in config.json; 0 picks a free port. */
  edgePort?: number;
  /** Operator API port instead of the one in config.json; 0 picks a free port. */
  operatorPort?: number;
  /** "pretty" or "json". Default: OUTPOST_LOG_FORMAT, else pretty when standard output is a terminal, json otherwise. */
  logFormat?: string;
  /** Minimum level logged. Default: OUTPOST_LOG_LEVEL, else logLevel in config.json ("info"). */
  logLevel?: string;
  /** Stops the server when aborted. Default: SIGINT and SIGTERM stop it. */
  signal?: AbortSignal;
}

/** The log format and level to use: the flag, else the environment, else the default. */
export function resolveLogSettings(
  options: { logFormat?: string; logLevel?: string },
  configLevel: string,
  env: NodeJS.ProcessEnv = process.env,
): { format: LogFormat; level: (typeof LOG_LEVELS)[number] } {
  const pick = <T extends string>(
    flag: string,
    envName: string,
    given: string | undefined,
    allowed: readonly T[],
    fallback: T,
  ): T => {
    const fromEnv = env[envName] !== undefined && env[envName] !== "" ? env[envName] : undefined;
    const value = given ?? fromEnv;
    if (value === undefined) return fallback;
    if (!(allowed as readonly string[]).includes(value)) {
      const from = given !== undefined ? flag : envName;
      throw new OutpostError(
        ErrorCode.InvalidConfig,
        `${from} must be one of ${allowed.join(", ")} (got ${JSON.stringify(value)})`,
      );
    }
    return value as T;
  };
  return {
    format: pick("--log-format", "OUTPOST_LOG_FORMAT", options.logFormat, LOG_FORMATS, defaultLogFormat()),
    level: pick(
      "--log-level",
      "OUTPOST_LOG_LEVEL",
      options.logLevel,
      LOG_LEVELS,
      configLevel as (typeof LOG_LEVELS)[number],
    ),
  };
}

/** Runs the server from a data directory until SIGINT/SIGTERM (or `signal`), then closes it cleanly. */
/** Session ticket keys are replaced after a week; resumable sessions last a day (EdgeEndpointOptions). */
const TICKET_KEY_MAX_AGE_MS = 7 * 86_400_000;

export async function serve(options: ServeOptions): Promise<void> {
  const config = loadServerConfig(options.dataDir);
  const p = config.paths;
  const { format, level } = resolveLogSettings(options, config.logLevel);
  const logger = createLogger({ level, format });
  const certPem = readInputFile(p.serverCert, "server certificate");
  const keyPem = readInputFile(p.serverKey, "server key");
  const clientCaPem = readInputFile(p.caCert, "CA certificate");
  checkTlsFiles(p, certPem, keyPem, clientCaPem);
  const ticketKeys = new TicketKeyFile(p.ticketKeys, { maxAgeMs: TICKET_KEY_MAX_AGE_MS });
  // The data key is made at the first start when init did not make one (a directory from before it).
  loadDataKey(p.dir, { create: true });
  const registry = new SqliteRegistry(p.registry, { dataKey: dataKeyLoader(p.dir) });
  let audit: FileAuditLog;
  try {
    audit = openDataAuditLog(p);
  } catch (err) {
    await asyncRegistryOf(registry).close();
    throw err;
  }
  let server: Awaited<ReturnType<typeof startServer>>;
  try {
    server = await startServer({
      registry,
      audit,
      logger,
      limits: config.limits,
      deviceLimits: config.deviceLimits,
      authRateLimit: config.authRateLimit,
      desiredTtlMs: config.desiredTtlMs,
      login: {
        sessionTtlMs: config.login.sessionTtlMs,
        tokenTtlMs: config.login.tokenTtlMs,
        maxTtlMs: config.login.maxTtlMs,
        lockout: config.login.lockout,
        ...(config.login.ldap && { createDirectoryOperators: config.login.ldap.createOperators }),
      },
      ...(config.login.ldap && {
        authenticators: [new LdapAuthenticator(ldapOptionsFromConfig(config.login.ldap, p.dir))],
      }),
      files: { repository: new DiskFileRepository(p.files) },
      edge: {
        host: config.edge.host,
        port: options.edgePort ?? config.edge.port,
        certPem,
        keyPem,
        clientCaPem,
        clientCert: config.edge.clientCert,
        authDeadlineMs: config.edge.authDeadlineMs,
        pingIntervalMs: config.edge.pingIntervalMs,
        sendBufferBytes: config.edge.sendBufferBytes,
        maxUnauthenticated: config.edge.maxUnauthenticated,
        maxUnauthenticatedPerSource: config.edge.maxUnauthenticatedPerSource,
        maxUnauthenticatedPerIdentity: config.edge.maxUnauthenticatedPerIdentity,
        revalidateIntervalMs: config.edge.revalidateIntervalMs,
        maxHandshakes: config.edge.maxHandshakes,
        reconnectRatePerSecond: config.edge.reconnectRatePerSecond,
        maxQueuedConnections: config.edge.maxQueuedConnections,
        queueTimeoutMs: config.edge.queueTimeoutMs,
        ...(config.edge.maxConnections > 0 && { maxConnections: config.edge.maxConnections }),
        listenBacklog: config.edge.listenBacklog,
        retryWindowMs: config.edge.retryWindowMs,
        ticketKeys,
      },
      operator: config.operator.enabled
        ? { host: config.operator.host, port: options.operatorPort ?? config.operator.port, certPem, keyPem }
        : false,
    });
  } catch (err) {
    await asyncRegistryOf(registry).close();
    await audit.close();
    if (isOutpostError(err)) throw err;
    throw new OutpostError(ErrorCode.Unavailable, `cannot start the server: ${(err as Error).message}`, { cause: err });
  }
  logger.info({ edgeUrl: server.edgeUrl, operatorUrl: server.operatorUrl, dataDir: p.dir }, "outpost server started");
  console.error(`edge endpoint: ${server.edgeUrl}`);
  if (server.operatorUrl) console.error(`operator API: ${server.operatorUrl}`);

  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      options.signal?.removeEventListener("abort", stop);
      resolve();
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
    if (options.signal?.aborted) stop();
    else options.signal?.addEventListener("abort", stop);
  });
  logger.info("shutting down");
  try {
    await server.close();
  } finally {
    // Waits for queued registry calls and an open transaction before the database closes.
    await asyncRegistryOf(registry).close();
    await audit.close();
  }
}

/** Names the damaged file instead of letting OpenSSL's "DECODER routines::unsupported" reach the user. */
function checkTlsFiles(p: DataPaths, certPem: string, keyPem: string, caPem: string): void {
  const check = (path: string, what: string, fn: () => unknown): void => {
    try {
      fn();
    } catch (err) {
      throw new OutpostError(ErrorCode.InvalidConfig, `${path} is not a valid ${what} (${(err as Error).message})`, {
        cause: err,
      });
    }
  };
  check(p.serverKey, "unencrypted PEM private key", () => createPrivateKey(keyPem));
  check(p.serverCert, "PEM certificate", () => new X509Certificate(certPem));
  check(p.caCert, "PEM certificate", () => new X509Certificate(caPem));
}
