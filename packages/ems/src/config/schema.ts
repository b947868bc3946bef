/** One property a Thing declares (see `PropertyOptions` of the SDK). */
export interface ThingPropertyConfig {
  name: string;
  type?: "number" | "integer" | "boolean" | "string" | "json" | "bytes";
  push?: "on-change" | "always" | "never";
  writable?: boolean;
}

/**
 * A service answered by a local HTTP endpoint that the EMS calls, instead of a local process
 * long-polling for it: `{"name": "reset", "callback": "http://127.0.0.1:8080/reset"}`, or over a
 * Unix socket with `"socket": "/run/app/api.sock"` (the URL then gives only the path).
 */
export interface ServiceCallbackConfig {
  name: string;
  callback: string;
  socket?: string;
}

/** One Thing the EMS represents: its properties and the services local processes answer. */
export interface ThingConfig {
  name: string;
  properties?: ThingPropertyConfig[];
  /** A name: local processes long-poll for its calls; an object: the EMS calls a local endpoint. */
  services?: Array<string | ServiceCallbackConfig>;
}

/** When the durable queue fsyncs; see docs/ems.md, Queue guarantees. */
export type FsyncPolicy = "always" | "interval" | "never";

/** The configuration file (`DIR/config.json`). Secret fields hold `outpost-enc:v1:` values. */
export interface EmsConfigData {
  version: 1;
  server: { url?: string; fallbackUrls?: string[]; servername?: string; insecureSkipVerify?: boolean };
  device: { id?: string };
  tls: { ca?: string; cert?: string; key?: string; passphrase?: string };
  appKey?: string;
  proxy: { url?: string; username?: string; password?: string };
  things: ThingConfig[];
  local: {
    socket?: string;
    tcp?: string;
    allowNonLoopback?: boolean;
    token?: string;
    maxBodyBytes?: number;
  };
  queue: { maxBytes?: number; segmentBytes?: number; fsync?: FsyncPolicy; fsyncIntervalMs?: number };
  /**
   * Tunnels operators may open to this device: target name → `host:port`. `approval` "local"
   * (the default) holds each session until `outpost-ems tunnels approve ID`; "none" allows every
   * request for a listed target.
   */
  tunnels: {
    targets?: Record<string, string>;
    approval?: "local" | "none";
    approvalTimeoutMs?: number;
    maxSessions?: number;
  };
  /**
   * Files the server may push into and pull from this device: virtual directory name → local
   * directory (transfer paths are `<name>/<relative path>`, confined to it).
   */
  files: { virtualDirs?: Record<string, string>; maxFileBytes?: number; maxBytesPerSecond?: number };
  /**
   * Further device identities, by name: each its own connection (server, certificate, key,
   * application key, proxy), Things, tunnels and virtual directories. The fields above are the
   * identity named "default".
   */
  identities?: Record<string, IdentityConfigData>;
  /** An encrypted known value: tells a wrong data key apart from a changed field. */
  keyCheck?: string;
}

/** The fields of one device identity (the default identity keeps them at the top level). */
export type IdentityConfigData = Pick<
  EmsConfigData,
  "server" | "device" | "tls" | "appKey" | "proxy" | "things" | "tunnels" | "files"
>;

/** Top-level fields that each identity has for itself. */
export const IDENTITY_FIELDS = ["server", "device", "tls", "appKey", "proxy", "things", "tunnels", "files"] as const;

/** How an identity may be named (it names a directory and a config key). */
export const IDENTITY_NAME_PATTERN = "^[a-z0-9][a-z0-9_-]{0,62}$";

/** Fields that are always stored encrypted. */
export const SECRET_FIELDS: readonly string[] = [
  "appKey",
  "tls.key",
  "tls.passphrase",
  "proxy.password",
  "local.token",
];

/** Fields only the EMS itself writes. */
export const INTERNAL_FIELDS: readonly string[] = ["version", "keyCheck"];

const str = { type: "string" } as const;
const bool = { type: "boolean" } as const;
const posInt = { type: "integer", minimum: 1 } as const;

const BASE_SCHEMA = {
  server: {
    type: "object",
    default: {},
    additionalProperties: false,
    properties: {
      url: { type: "string", pattern: "^wss?://" },
      fallbackUrls: { type: "array", items: { type: "string", pattern: "^wss?://" } },
      servername: str,
      insecureSkipVerify: bool,
    },
  },
  device: { type: "object", default: {}, additionalProperties: false, properties: { id: str } },
  tls: {
    type: "object",
    default: {},
    additionalProperties: false,
    properties: { ca: str, cert: str, key: str, passphrase: str },
  },
  appKey: str,
  proxy: {
    type: "object",
    default: {},
    additionalProperties: false,
    properties: { url: { type: "string", pattern: "^https?://" }, username: str, password: str },
  },
  things: {
    type: "array",
    default: [],
    items: {
      type: "object",
      required: ["name"],
      additionalProperties: false,
      properties: {
        name: { type: "string", minLength: 1, maxLength: 256 },
        services: {
          type: "array",
          items: {
            oneOf: [
              { type: "string", minLength: 1, maxLength: 256 },
              {
                type: "object",
                required: ["name", "callback"],
                additionalProperties: false,
                properties: {
                  name: { type: "string", minLength: 1, maxLength: 256 },
                  callback: { type: "string", minLength: 1, maxLength: 2048 },
                  socket: { type: "string", minLength: 1, maxLength: 1024 },
                },
              },
            ],
          },
        },
        properties: {
          type: "array",
          items: {
            type: "object",
            required: ["name"],
            additionalProperties: false,
            properties: {
              name: { type: "string", minLength: 1, maxLength: 256 },
              type: { enum: ["number", "integer", "boolean", "string", "json", "bytes"] },
              push: { enum: ["on-change", "always", "never"] },
              writable: bool,
            },
          },
        },
      },
    },
  },
  tunnels: {
    type: "object",
    default: {},
    additionalProperties: false,
    properties: {
      targets: {
        type: "object",
        additionalProperties: { type: "string", pattern: "^(\\[[0-9a-fA-F:.]+\\]|[^:\\s]+):[0-9]{1,5}$" },
      },
      approval: { enum: ["local", "none"] },
      approvalTimeoutMs: posInt,
      maxSessions: posInt,
    },
  },
  files: {
    type: "object",
    default: {},
    additionalProperties: false,
    properties: {
      virtualDirs: { type: "object", additionalProperties: { type: "string", minLength: 1 } },
      maxFileBytes: posInt,
      maxBytesPerSecond: posInt,
    },
  },
} as const;

/** JSON schema of each top-level field, for `conf`. */
export const CONFIG_SCHEMA = {
  version: { const: 1, default: 1 },
  ...BASE_SCHEMA,
  local: {
    type: "object",
    default: {},
    additionalProperties: false,
    properties: {
      socket: str,
      tcp: { type: "string", pattern: "^(\\[[0-9a-fA-F:.]+\\]|[^:\\s]+):[0-9]{1,5}$" },
      allowNonLoopback: bool,
      token: str,
      maxBodyBytes: posInt,
    },
  },
  queue: {
    type: "object",
    default: {},
    additionalProperties: false,
    properties: {
      maxBytes: { type: "integer", minimum: 65536 },
      segmentBytes: { type: "integer", minimum: 4096 },
      fsync: { enum: ["always", "interval", "never"] },
      fsyncIntervalMs: posInt,
    },
  },
  identities: {
    type: "object",
    default: {},
    propertyNames: { pattern: IDENTITY_NAME_PATTERN, not: { const: "default" } },
    additionalProperties: {
      type: "object",
      additionalProperties: false,
      properties: {
        server: BASE_SCHEMA.server,
        device: BASE_SCHEMA.device,
        tls: BASE_SCHEMA.tls,
        appKey: BASE_SCHEMA.appKey,
        proxy: BASE_SCHEMA.proxy,
        things: BASE_SCHEMA.things,
        tunnels: BASE_SCHEMA.tunnels,
        files: BASE_SCHEMA.files,
      },
    },
  },
  keyCheck: str,
} as const;
