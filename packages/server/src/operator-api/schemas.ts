import { repositoryEntrySchema, transferSchema } from "./file-schemas.js";
import { bearer, errorResponses, ref } from "./schema-parts.js";
/**
 * JSON schemas of the operator API: fastify validates requests and serializes responses with them,
 * and @fastify/swagger turns them into the OpenAPI document (docs/openapi.json). Shared shapes are
 * registered by `$id` and appear under `components.schemas`.
 */

/** Any JSON value (bytes as `{"$bytes": "<base64>"}`). */
const anyValue = { description: 'Any JSON value; bytes are {"$bytes": "<base64>"}.' } as const;

export const sharedSchemas = [
  transferSchema,
  repositoryEntrySchema,
  {
    $id: "ErrorBody",
    type: "object",
    description: "Every error answer.",
    required: ["error"],
    properties: {
      error: {
        type: "object",
        required: ["code", "message"],
        properties: {
          code: { type: "string", description: "Stable code, e.g. OUTPOST_FORBIDDEN (docs/errors.md)." },
          message: { type: "string", description: "One plain sentence." },
          field: { type: "string", description: "The request field at fault, e.g. body/value (400 only)." },
        },
      },
    },
  },
  {
    $id: "Device",
    type: "object",
    required: ["id", "description", "createdAt", "disabled", "connected"],
    properties: {
      id: { type: "string" },
      description: { type: "string" },
      createdAt: { type: "integer", description: "Milliseconds since epoch." },
      disabled: { type: "boolean" },
      connected: { type: "boolean" },
      source: { type: "string", description: "Remote address of the current connection." },
      connectedAt: { type: "integer", description: "When the current connection authenticated (ms since epoch)." },
    },
  },
  {
    $id: "Thing",
    type: "object",
    required: ["name", "deviceId", "description", "online"],
    properties: {
      name: { type: "string" },
      deviceId: { type: "string" },
      description: { type: "string" },
      online: { type: "boolean", description: "The owning device is connected and has bound the Thing." },
      template: { type: "string", description: "The template the Thing was made from (absent: none)." },
    },
  },
  {
    $id: "Property",
    type: "object",
    required: ["name", "value", "timestampMs", "quality"],
    properties: {
      name: { type: "string" },
      value: anyValue,
      timestampMs: { type: "integer", description: "When the device sampled the value (ms since epoch, 0 unknown)." },
      quality: { type: "string", enum: ["good", "bad", "uncertain"] },
    },
  },
  {
    $id: "DesiredProperty",
    type: "object",
    description:
      "A write held for an offline Thing: applied when its device binds the Thing again, unless it expires first.",
    required: ["name", "value", "setBy", "setAt", "expiresAt"],
    properties: {
      name: { type: "string" },
      value: anyValue,
      setBy: { type: "string", description: "Operator who wrote it; it is applied with this operator's permissions." },
      setAt: { type: "integer", description: "When it was written (ms since epoch)." },
      expiresAt: { type: "integer", description: "After this it is not applied (ms since epoch)." },
    },
  },
] as const;

const errors = errorResponses([400, 401, 403, 404, 413, 429, 500, 501, 503, 504]);

const thingParam = { type: "string", minLength: 1, description: "Thing name." } as const;

const timeoutQuery = {
  type: "integer",
  minimum: 1,
  maximum: 600_000,
  description: "How long to wait for the device, in ms. Default: the server's requestTimeoutMs.",
} as const;

export const healthSchema = {
  operationId: "health",
  summary: "Whether the server runs, and whether its audit log can be written (no authentication).",
  response: {
    200: {
      type: "object",
      required: ["status", "audit"],
      properties: {
        status: { type: "string", enum: ["ok"] },
        audit: {
          type: "object",
          description: "While failing, device logins are refused; the failure message is in the server's log.",
          required: ["state"],
          properties: {
            state: { type: "string", enum: ["ok", "failing"] },
            since: {
              type: "integer",
              description: "Milliseconds since epoch of the first failed write (when failing).",
            },
            lost: {
              type: "integer",
              description: "Audit records that could not be written since then (when failing).",
            },
          },
        },
      },
    },
  },
} as const;

export const whoamiSchema = {
  operationId: "whoami",
  summary: "The operator the bearer token belongs to.",
  security: bearer,
  response: {
    200: {
      type: "object",
      required: ["operator", "admin", "tokenId"],
      properties: {
        operator: { type: "string", description: "Operator name." },
        admin: { type: "boolean" },
        tokenId: { type: "string", description: "Public id of the token (the part after opt_; not secret)." },
        groups: {
          type: "array",
          items: { type: "string" },
          description: "Outpost groups mapped from the directory at login (LDAP logins only).",
        },
      },
    },
    ...errors,
  },
} as const;

export const listDevicesSchema = {
  operationId: "listDevices",
  summary: "Every registered device with its connection state (admin only).",
  security: bearer,
  response: {
    200: { type: "object", required: ["devices"], properties: { devices: { type: "array", items: ref("Device") } } },
    ...errors,
  },
} as const;

export const listThingsSchema = {
  operationId: "listThings",
  summary: "The Things the caller holds any permission on.",
  security: bearer,
  response: {
    200: { type: "object", required: ["things"], properties: { things: { type: "array", items: ref("Thing") } } },
    ...errors,
  },
} as const;

export const readPropertiesSchema = {
  operationId: "readProperties",
  summary: "Property values: live from the device when online, else the last kept values.",
  security: bearer,
  params: { type: "object", required: ["thing"], properties: { thing: thingParam } },
  querystring: {
    type: "object",
    properties: {
      name: {
        type: "array",
        items: { type: "string" },
        description: "Properties to read (repeated, or comma-separated). Default: all.",
      },
      timeoutMs: timeoutQuery,
    },
  },
  response: {
    200: {
      type: "object",
      required: ["thing", "live", "properties", "desired"],
      properties: {
        thing: { type: "string" },
        live: { type: "boolean", description: "True when read from the device just now." },
        properties: { type: "array", items: ref("Property"), description: "Reported values." },
        desired: {
          type: "array",
          items: ref("DesiredProperty"),
          description: "Desired values written while the Thing was offline, not yet applied nor expired.",
        },
      },
    },
    ...errors,
  },
} as const;

export const writePropertySchema = {
  operationId: "writeProperty",
  summary:
    "Writes one property on the device; the answer is the device's (200). When the Thing is offline the " +
    "value is held as desired state (202) and applied when its device binds the Thing again.",
  security: bearer,
  params: {
    type: "object",
    required: ["thing", "name"],
    properties: { thing: thingParam, name: { type: "string", minLength: 1, description: "Property name." } },
  },
  querystring: { type: "object", properties: { timeoutMs: timeoutQuery } },
  body: {
    type: "object",
    required: ["value"],
    properties: {
      value: anyValue,
      expiresInMs: {
        type: "integer",
        minimum: 1,
        maximum: 2_592_000_000,
        description:
          "When the Thing is offline, how long the value is held as desired state, in ms (at most 30 days). " +
          "Default: the server's desiredTtlMs (24 h).",
      },
    },
  },
  response: {
    200: {
      description: "Applied: the device confirmed the write.",
      type: "object",
      required: ["state", "thing", "name", "value"],
      properties: {
        state: { type: "string", enum: ["applied"] },
        thing: { type: "string" },
        name: { type: "string" },
        value: anyValue,
      },
    },
    202: {
      description: "Held as desired state: the Thing is offline.",
      type: "object",
      required: ["state", "thing", "name", "value", "setBy", "setAt", "expiresAt"],
      properties: {
        state: { type: "string", enum: ["desired"] },
        thing: { type: "string" },
        name: { type: "string" },
        value: anyValue,
        setBy: { type: "string" },
        setAt: { type: "integer" },
        expiresAt: { type: "integer" },
      },
    },
    ...errors,
  },
} as const;

export const clearDesiredSchema = {
  operationId: "clearDesired",
  summary: "Removes the desired value held for a property of an offline Thing (needs property.write).",
  security: bearer,
  params: {
    type: "object",
    required: ["thing", "name"],
    properties: { thing: thingParam, name: { type: "string", minLength: 1, description: "Property name." } },
  },
  response: {
    200: {
      type: "object",
      required: ["thing", "name", "cleared"],
      properties: { thing: { type: "string" }, name: { type: "string" }, cleared: { type: "boolean", enum: [true] } },
    },
    ...errors,
  },
} as const;

export const invokeServiceSchema = {
  operationId: "invokeService",
  summary: "Invokes a service on the device and returns its result.",
  security: bearer,
  params: {
    type: "object",
    required: ["thing", "service"],
    properties: { thing: thingParam, service: { type: "string", minLength: 1, description: "Service name." } },
  },
  querystring: {
    type: "object",
    properties: {
      timeoutMs: { ...timeoutQuery, description: `${timeoutQuery.description} Also the device's deadline.` },
    },
  },
  body: {
    type: "object",
    description: "The service's parameters by name (an empty body is no parameters).",
    additionalProperties: anyValue,
  },
  response: {
    200: { type: "object", required: ["result"], properties: { result: anyValue } },
    ...errors,
  },
} as const;

export const streamEventsSchema = {
  operationId: "streamEvents",
  summary:
    "Server-Sent Events of accepted property changes (event: property), device events (event: event) " +
    "and desired-state outcomes (event: desired). " +
    "Send Last-Event-ID to resume after the last event received.",
  security: bearer,
  querystring: {
    type: "object",
    properties: { thing: { type: "string", minLength: 1, description: "Only this Thing." } },
  },
  headers: {
    type: "object",
    properties: {
      "last-event-id": {
        type: "string",
        maxLength: 64,
        description: "Resume after this event id (the SSE id: field of the last event received).",
      },
    },
  },
  response: {
    200: {
      description: "An SSE stream; each data: line is one JSON change (see docs/operator-api.md).",
      content: { "text/event-stream": { schema: { type: "string" } } },
    },
    ...errors,
  },
} as const;
