import { ErrorCode, OutpostError } from "@outpost/protocol";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { LoginLockedError, type LoginService } from "../auth/login.js";
import { clearedCookies, CSRF_HEADER, csrfTokenFor, sessionCookies } from "../auth/sessions.js";
import type { LoginKind, TokenScope } from "../registry/credentials-sql.js";
import { DEVICE_PERMISSIONS, PERMISSIONS } from "../registry/types.js";
import type { Caller } from "./routes.js";

/** The login paths, for the 405 check. */
export const LOGIN_ROUTE_PATHS: ReadonlyArray<{ method: string; url: string }> = [
  { method: "POST", url: "/api/login" },
  { method: "POST", url: "/api/logout" },
];

const errorRef = { $ref: "ErrorBody#" } as const;
const errors = Object.fromEntries([400, 401, 403, 429, 500, 503].map((s) => [s, errorRef]));

const scopeSchema = {
  type: "object",
  additionalProperties: false,
  description:
    "Narrows the token: it holds only these permissions, on these Things and devices, and never admin rights. " +
    "An absent field does not narrow.",
  properties: {
    permissions: {
      type: "array",
      maxItems: 16,
      items: { type: "string", enum: [...PERMISSIONS, ...DEVICE_PERMISSIONS] },
    },
    things: { type: "array", maxItems: 256, items: { type: "string", minLength: 1, maxLength: 256 } },
    devices: { type: "array", maxItems: 256, items: { type: "string", minLength: 1, maxLength: 128 } },
  },
} as const;

export const loginSchema = {
  operationId: "login",
  summary: "Log in with a username and password: a browser session (cookie) or a token for scripts.",
  description:
    "Every refusal of the username/password pair is the same 401, whatever the cause. Repeated failures lock " +
    "the username and the source address (429 with Retry-After). A session login must carry the " +
    "X-Outpost-CSRF header (any value), so another site's form cannot log a browser in.",
  body: {
    type: "object",
    required: ["username", "password"],
    additionalProperties: false,
    properties: {
      username: { type: "string", minLength: 1, maxLength: 256 },
      password: { type: "string", minLength: 1, maxLength: 1024 },
      kind: {
        type: "string",
        enum: ["session", "token"],
        description: 'What to issue. Default "token".',
      },
      ttlSeconds: {
        type: "integer",
        minimum: 60,
        description: "A shorter lifetime than the server's default (login.sessionTtlMs / login.tokenTtlMs).",
      },
      scope: scopeSchema,
    },
  },
  response: {
    200: {
      type: "object",
      required: ["operator", "admin", "kind", "tokenId", "expiresAt", "authenticator", "groups"],
      properties: {
        operator: { type: "string" },
        admin: { type: "boolean", description: "Whether this token carries admin rights (never when scoped)." },
        kind: { type: "string", enum: ["session", "token"] },
        tokenId: { type: "string", description: "Public id, for revocation (outpost-server operator revoke-token)." },
        expiresAt: { type: "string", description: "ISO 8601." },
        authenticator: { type: "string", description: '"local" or "ldap".' },
        groups: { type: "array", items: { type: "string" }, description: "Outpost groups mapped from the directory." },
        scope: scopeSchema,
        token: { type: "string", description: "kind token only: the bearer token, shown once." },
        csrfToken: {
          type: "string",
          description: "kind session only: send it as X-Outpost-CSRF on every request that is not GET/HEAD.",
        },
      },
    },
    ...errors,
  },
} as const;

export const logoutSchema = {
  operationId: "logout",
  summary: "Revoke the login session or token this request is made with, and clear the session cookies.",
  security: [{ bearer: [] }, { session: [] }],
  response: {
    200: {
      type: "object",
      required: ["revoked", "tokenId"],
      properties: { revoked: { type: "boolean" }, tokenId: { type: "string" } },
    },
    ...errors,
  },
} as const;

interface LoginBody {
  username: string;
  password: string;
  kind?: LoginKind;
  ttlSeconds?: number;
  scope?: TokenScope;
}

/** Registers POST /api/login and /api/logout (docs/authentication.md). */
export function registerLoginRoutes(
  app: FastifyInstance,
  getLogin: () => LoginService | undefined,
  deny: (req: FastifyRequest, message: string, details: Record<string, unknown>) => OutpostError,
): void {
  const service = (): LoginService => {
    const s = getLogin();
    if (!s) throw new OutpostError(ErrorCode.Unavailable, "password login is not configured", { status: 503 });
    return s;
  };

  app.post<{ Body: LoginBody }>(
    "/api/login",
    { schema: loginSchema, config: { auth: false } },
    async (req, reply: FastifyReply) => {
      const login = service();
      const b = req.body;
      const kind = b.kind ?? "token";
      if (kind === "session" && req.headers[CSRF_HEADER] === undefined) {
        throw deny(req, `a session login needs the ${CSRF_HEADER} header`, { action: "login", reason: "csrf" });
      }
      let granted;
      try {
        granted = await login.login({
          username: b.username,
          password: b.password,
          source: req.ip,
          kind,
          ...(b.ttlSeconds !== undefined ? { ttlMs: b.ttlSeconds * 1000 } : {}),
          ...(b.scope !== undefined ? { scope: b.scope } : {}),
        });
      } catch (err) {
        if (err instanceof LoginLockedError) void reply.header("retry-after", String(err.retryAfterSeconds));
        // The refusal is already in the audit log, with its real reason.
        req.refusalAudited = true;
        throw err;
      }
      const { record, operator, token } = granted;
      if (kind === "session") {
        void reply.header("set-cookie", sessionCookies(token, (record.expiresAt - Date.now()) / 1000));
      }
      void reply.header("cache-control", "no-store");
      return {
        operator: operator.name,
        admin: operator.admin && record.scope === null,
        kind,
        tokenId: record.tokenId,
        expiresAt: new Date(record.expiresAt).toISOString(),
        authenticator: record.authenticator,
        groups: record.groups,
        ...(record.scope !== null ? { scope: record.scope } : {}),
        ...(kind === "token" ? { token } : { csrfToken: csrfTokenFor(token) }),
      };
    },
  );

  app.post("/api/logout", { schema: logoutSchema }, async (req, reply) => {
    const who = req.caller as Caller;
    if (!who.login) {
      throw new OutpostError(
        ErrorCode.BadRequest,
        "this token was not issued by a login; revoke it with outpost-server operator revoke-token",
        { status: 400 },
      );
    }
    const revoked = await service().revoke(who.login.tokenId, `operator:${who.principal.id}`, who.source, "logout");
    if (who.via === "cookie") void reply.header("set-cookie", clearedCookies());
    return { revoked, tokenId: who.login.tokenId };
  });
}
