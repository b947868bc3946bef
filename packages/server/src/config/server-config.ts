import { existsSync, readFileSync } from "node:fs";
import {
  ErrorCode,
  MAX_CONNECTION_WINDOW_BYTES,
  MAX_STREAM_WINDOW_BYTES,
  MIN_FRAME_BYTES,
  OutpostError,
  type ProtocolLimits,
} from "@outpost/protocol";
import { DEFAULT_DEVICE_LIMITS } from "../edge/device-limits.js";
import { type DataPaths, dataPaths } from "./layout.js";
import { defaultLoginConfig, type LoginConfig, validateLoginConfig } from "./login-config.js";

/** Contents of `config.json` in a data directory. Every field has a default; see {@link defaultServerConfig}. */
export interface ServerConfigFile {
  version: 1;
  edge: {
    /** Interface the edge endpoint listens on. Default "127.0.0.1". */
    host: string;
    /** Edge port. Default 8443. */
    port: number;
    /** URL devices are told to connect to (written into onboarding bundles). Default wss://<first host>:8443. */
    publicUrl: string;
    /** "required" (default) or "optional" (development only: devices without a certificate). */
    clientCert: "required" | "optional";
    /** Milliseconds a connection has to authenticate. Default 10 000. */
    authDeadlineMs: number;
    /** WebSocket ping interval; a device that misses a pong is disconnected, in ms. Default 30 000. */
    pingIntervalMs: number;
    /** Unsent bytes held for one device before it is disconnected. Default 32 MiB. */
    sendBufferBytes: number;
    /** Connections that have not authenticated yet, at most. Default 1000. */
    maxUnauthenticated: number;
    /** Of those, at most this many from one source address. Default 100. */
    maxUnauthenticatedPerSource: number;
    /** Of those, at most this many presenting one certificate identity. Default 8. */
    maxUnauthenticatedPerIdentity: number;
    /** Bound on how long a revocation made by another process takes to close open sessions, in ms. Default 5 000. */
    revalidateIntervalMs: number;
    /** Connections between TCP accept and a successful Auth at most; more wait for a slot. Default 512. */
    maxHandshakes: number;
    /** Devices per second expected back after a restart; sets the reconnect window told at Auth. Default 200. */
    reconnectRatePerSecond: number;
    /** Connections waiting for a handshake slot at most; more are reset at once. Default 10 000. */
    maxQueuedConnections: number;
    /** A connection that waited this long for a handshake slot is reset, in ms. Default 12 000. */
    queueTimeoutMs: number;
    /** Open device connections at most; 0 = the open-file limit less 256. Default 0. */
    maxConnections: number;
    /** Kernel listen queue length (capped by net.core.somaxconn). Default 1024. */
    listenBacklog: number;
    /** Devices asked to come back later are given a wait spread over this window, in ms. Default 20 000. */
    retryWindowMs: number;
  };
  operator: {
    /** Whether the HTTPS operator API runs. Default true. */
    enabled: boolean;
    /** Default "127.0.0.1". */
    host: string;
    /** Default 8444. */
    port: number;
  };
  /** Limits enforced on what devices send; unset fields use the protocol defaults. */
  limits: Partial<ProtocolLimits>;
  /** Bounds a device cannot lift (see DeviceLimitOptions in edge/device-limits.ts). */
  deviceLimits: { maxPropertiesPerThing: number; eventsPerSecond: number; eventBurst: number };
  /** Authentication failure limits per source address and per key. */
  authRateLimit: { maxFailures: number; windowMs: number; blockMs: number };
  /** Log level: "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent". Default "info". */
  logLevel: string;
  /** How long a write to an offline Thing is held as desired state when the write does not say, in ms. Default 24 h. */
  desiredTtlMs: number;
  /** Password logins of people: lifetimes, lockout, directory (config/login-config.ts). */
  login: LoginConfig;
}

/** A loaded, validated configuration plus the absolute paths of the data directory. */
export interface ServerConfig extends ServerConfigFile {
  paths: DataPaths;
}

/** The configuration `init` writes, for the given public host. */
export function defaultServerConfig(publicHost = "localhost"): ServerConfigFile {
  const host = publicHost.includes(":") ? `[${publicHost}]` : publicHost;
  return {
    version: 1,
    edge: {
      host: "127.0.0.1",
      port: 8443,
      publicUrl: `wss://${host}:8443`,
      clientCert: "required",
      authDeadlineMs: 10_000,
      pingIntervalMs: 30_000,
      sendBufferBytes: 32 * 1024 * 1024,
      maxUnauthenticated: 1000,
      maxUnauthenticatedPerSource: 100,
      maxUnauthenticatedPerIdentity: 8,
      revalidateIntervalMs: 5_000,
      maxHandshakes: 512,
      reconnectRatePerSecond: 200,
      maxQueuedConnections: 10_000,
      queueTimeoutMs: 12_000,
      maxConnections: 0,
      listenBacklog: 1024,
      retryWindowMs: 20_000,
    },
    operator: { enabled: true, host: "127.0.0.1", port: 8444 },
    limits: {},
    deviceLimits: { ...DEFAULT_DEVICE_LIMITS },
    authRateLimit: { maxFailures: 5, windowMs: 60_000, blockMs: 60_000 },
    logLevel: "info",
    desiredTtlMs: 24 * 60 * 60 * 1000,
    login: defaultLoginConfig(),
  };
}

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];
/** The settable protocol limits with the range each accepts (the protocol refuses values outside it). */
const LIMIT_RANGES: Record<keyof ProtocolLimits, readonly [min: number, max: number]> = {
  maxFrameBytes: [MIN_FRAME_BYTES, Number.MAX_SAFE_INTEGER],
  maxMessageBytes: [1, Number.MAX_SAFE_INTEGER],
  maxBatch: [1, Number.MAX_SAFE_INTEGER],
  maxStringBytes: [1, Number.MAX_SAFE_INTEGER],
  maxConcurrentRequests: [1, Number.MAX_SAFE_INTEGER],
  streamWindow: [1, MAX_STREAM_WINDOW_BYTES],
  connectionWindow: [1, MAX_CONNECTION_WINDOW_BYTES],
  maxStreams: [1, 65_536],
};
const LIMIT_KEYS = Object.keys(LIMIT_RANGES) as (keyof ProtocolLimits)[];

/** Reads and validates `<dir>/config.json`. Problems are OUTPOST_INVALID_CONFIG naming the field. */
export function loadServerConfig(dir: string): ServerConfig {
  const paths = dataPaths(dir);
  if (!existsSync(paths.config)) {
    throw new OutpostError(
      ErrorCode.InvalidConfig,
      `${paths.config} not found: run "outpost-server init --data ${dir}" first`,
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(paths.config, "utf8"));
  } catch (err) {
    throw new OutpostError(ErrorCode.InvalidConfig, `${paths.config} is not valid JSON: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return { ...validateServerConfig(raw, paths.config), paths };
}

/** Checks a parsed config.json, filling defaults for missing fields. */
export function validateServerConfig(raw: unknown, source = "config.json"): ServerConfigFile {
  const bad = (field: string, want: string): never => {
    throw new OutpostError(ErrorCode.InvalidConfig, `${source}: ${field} must be ${want}`);
  };
  if (!isObject(raw)) return bad("the top level", "an object");
  if (raw.version !== undefined && raw.version !== 1) bad("version", "1");
  const def = defaultServerConfig();
  refuseUnknownKeys(raw, def, source);
  const edge = section(raw, "edge", bad);
  const op = section(raw, "operator", bad);
  const rate = section(raw, "authRateLimit", bad);
  const limitsRaw = section(raw, "limits", bad);
  const devLimits = section(raw, "deviceLimits", bad);

  const str = (o: Record<string, unknown>, k: string, d: string, field: string): string => {
    const v = o[k] ?? d;
    return typeof v === "string" && v.length > 0 ? v : bad(field, "a non-empty string");
  };
  const int = (o: Record<string, unknown>, k: string, d: number, field: string, min: number, max: number): number => {
    const v = o[k] ?? d;
    return Number.isSafeInteger(v) && (v as number) >= min && (v as number) <= max
      ? (v as number)
      : bad(field, `an integer from ${min} to ${max}`);
  };

  const clientCert = edge.clientCert ?? def.edge.clientCert;
  if (clientCert !== "required" && clientCert !== "optional") bad("edge.clientCert", '"required" or "optional"');
  const publicUrl = str(edge, "publicUrl", def.edge.publicUrl, "edge.publicUrl");
  if (!/^wss:\/\/[^\s/]+/.test(publicUrl)) bad("edge.publicUrl", "a wss:// URL");
  const enabled = op.enabled ?? def.operator.enabled;
  if (typeof enabled !== "boolean") bad("operator.enabled", "true or false");
  const logLevel = str(raw, "logLevel", def.logLevel, "logLevel");
  if (!LOG_LEVELS.includes(logLevel)) bad("logLevel", `one of ${LOG_LEVELS.join(", ")}`);

  const limits: Partial<ProtocolLimits> = {};
  for (const k of Object.keys(limitsRaw)) {
    if (!LIMIT_KEYS.includes(k as keyof ProtocolLimits)) bad(`limits.${k}`, `one of ${LIMIT_KEYS.join(", ")}`);
    const [min, max] = LIMIT_RANGES[k as keyof ProtocolLimits];
    limits[k as keyof ProtocolLimits] = int(limitsRaw, k, 0, `limits.${k}`, min, max);
  }

  return {
    version: 1,
    edge: {
      host: str(edge, "host", def.edge.host, "edge.host"),
      port: int(edge, "port", def.edge.port, "edge.port", 0, 65535),
      publicUrl,
      clientCert: clientCert as "required" | "optional",
      authDeadlineMs: int(edge, "authDeadlineMs", def.edge.authDeadlineMs, "edge.authDeadlineMs", 100, 600_000),
      pingIntervalMs: int(edge, "pingIntervalMs", def.edge.pingIntervalMs, "edge.pingIntervalMs", 1_000, 3_600_000),
      sendBufferBytes: int(
        edge,
        "sendBufferBytes",
        def.edge.sendBufferBytes,
        "edge.sendBufferBytes",
        1_048_576,
        2 ** 31,
      ),
      maxUnauthenticated: int(
        edge,
        "maxUnauthenticated",
        def.edge.maxUnauthenticated,
        "edge.maxUnauthenticated",
        1,
        1_000_000,
      ),
      maxUnauthenticatedPerSource: int(
        edge,
        "maxUnauthenticatedPerSource",
        def.edge.maxUnauthenticatedPerSource,
        "edge.maxUnauthenticatedPerSource",
        1,
        1_000_000,
      ),
      maxUnauthenticatedPerIdentity: int(
        edge,
        "maxUnauthenticatedPerIdentity",
        def.edge.maxUnauthenticatedPerIdentity,
        "edge.maxUnauthenticatedPerIdentity",
        1,
        1_000_000,
      ),
      revalidateIntervalMs: int(
        edge,
        "revalidateIntervalMs",
        def.edge.revalidateIntervalMs,
        "edge.revalidateIntervalMs",
        100,
        3_600_000,
      ),
      maxHandshakes: int(edge, "maxHandshakes", def.edge.maxHandshakes, "edge.maxHandshakes", 1, 100_000),
      reconnectRatePerSecond: int(
        edge,
        "reconnectRatePerSecond",
        def.edge.reconnectRatePerSecond,
        "edge.reconnectRatePerSecond",
        0,
        1_000_000,
      ),
      maxQueuedConnections: int(
        edge,
        "maxQueuedConnections",
        def.edge.maxQueuedConnections,
        "edge.maxQueuedConnections",
        0,
        1_000_000,
      ),
      queueTimeoutMs: int(edge, "queueTimeoutMs", def.edge.queueTimeoutMs, "edge.queueTimeoutMs", 100, 600_000),
      maxConnections: int(edge, "maxConnections", def.edge.maxConnections, "edge.maxConnections", 0, 10_000_000),
      listenBacklog: int(edge, "listenBacklog", def.edge.listenBacklog, "edge.listenBacklog", 1, 65_535),
      retryWindowMs: int(edge, "retryWindowMs", def.edge.retryWindowMs, "edge.retryWindowMs", 0, 3_600_000),
    },
    operator: {
      enabled: enabled as boolean,
      host: str(op, "host", def.operator.host, "operator.host"),
      port: int(op, "port", def.operator.port, "operator.port", 0, 65535),
    },
    limits,
    deviceLimits: {
      maxPropertiesPerThing: int(
        devLimits,
        "maxPropertiesPerThing",
        def.deviceLimits.maxPropertiesPerThing,
        "deviceLimits.maxPropertiesPerThing",
        1,
        1_000_000,
      ),
      eventsPerSecond: int(
        devLimits,
        "eventsPerSecond",
        def.deviceLimits.eventsPerSecond,
        "deviceLimits.eventsPerSecond",
        1,
        1_000_000,
      ),
      eventBurst: int(devLimits, "eventBurst", def.deviceLimits.eventBurst, "deviceLimits.eventBurst", 1, 10_000_000),
    },
    authRateLimit: {
      maxFailures: int(rate, "maxFailures", def.authRateLimit.maxFailures, "authRateLimit.maxFailures", 1, 1_000_000),
      windowMs: int(rate, "windowMs", def.authRateLimit.windowMs, "authRateLimit.windowMs", 1, 86_400_000),
      blockMs: int(rate, "blockMs", def.authRateLimit.blockMs, "authRateLimit.blockMs", 1, 86_400_000),
    },
    logLevel,
    desiredTtlMs: int(raw, "desiredTtlMs", def.desiredTtlMs, "desiredTtlMs", 1_000, 30 * 24 * 60 * 60 * 1000),
    login: validateLoginConfig(raw.login, bad),
  };
}

/**
 * A misspelt key would otherwise be ignored and its default used without a word. The known keys
 * are those of the defaults; `limits` is checked field by field.
 */
function refuseUnknownKeys(raw: Record<string, unknown>, def: ServerConfigFile, source: string): void {
  const known = def as unknown as Record<string, unknown>;
  const check = (obj: Record<string, unknown>, allowed: Record<string, unknown>, prefix: string): void => {
    for (const key of Object.keys(obj)) {
      if (!Object.hasOwn(allowed, key)) {
        throw new OutpostError(
          ErrorCode.InvalidConfig,
          `${source}: unknown key ${prefix}${key} (known keys${prefix ? ` of ${prefix.slice(0, -1)}` : ""}: ${Object.keys(allowed).join(", ")})`,
        );
      }
    }
  };
  check(raw, known, "");
  for (const [key, value] of Object.entries(raw)) {
    const sub = known[key];
    // `login` checks its own keys, at every depth (config/login-config.ts).
    if (key !== "limits" && key !== "login" && isObject(value) && isObject(sub)) check(value, sub, `${key}.`);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function section(
  raw: Record<string, unknown>,
  key: string,
  bad: (field: string, want: string) => never,
): Record<string, unknown> {
  const v = raw[key];
  if (v === undefined) return {};
  return isObject(v) ? v : bad(key, "an object");
}
