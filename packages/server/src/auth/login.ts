import { ErrorCode, OutpostError } from "@outpost/protocol";
import type { AuditEvent, AuditSink } from "../audit/types.js";
import type { AsyncCredentialStore } from "../registry/async-types.js";
import type { LoginKind, LoginTokenRecord, TokenScope } from "../registry/credentials-sql.js";
import { assertDeviceId, assertOperatorName, assertThingName, isPermission } from "../registry/names.js";
import type { OperatorRecord } from "../registry/types.js";
import type { Authenticator, AuthResult } from "./authenticator.js";
import type { LoginLockout } from "./lockout.js";

/** Lifetimes of what a login issues (config.json `login`). */
export interface LoginOptions {
  /** Lifetime of a browser session, in ms. Default 8 h. */
  sessionTtlMs?: number;
  /** Lifetime of a script token when the login does not ask for less, in ms. Default 24 h. */
  tokenTtlMs?: number;
  /** Longest lifetime a login may ask for, in ms. Default 30 days. */
  maxTtlMs?: number;
  /**
   * Whether a directory user who has no operator yet gets one (not an admin) at the first login.
   * Default true; when false, such a login fails with reason "no-operator".
   */
  createDirectoryOperators?: boolean;
}

/** A password login as the operator API receives it. */
export interface LoginRequest {
  username: string;
  password: string;
  source: string;
  kind: LoginKind;
  /** Shorter lifetime than the default, in ms. */
  ttlMs?: number;
  scope?: TokenScope;
}

/** A successful login: the token (shown once) and what it is. */
export interface LoginGranted {
  token: string;
  record: LoginTokenRecord;
  operator: OperatorRecord;
}

/** Most Things or devices one scope may name. */
export const MAX_SCOPE_ENTRIES = 256;

/** What {@link LoginService} needs. */
export interface LoginDeps {
  /** The operators, their login tokens, and the directory users made operators at their first login. */
  credentials: Pick<AsyncCredentialStore, "issue" | "revoke" | "operator" | "ensureOperator">;
  /** Asked in order; the next one only when a user is unknown to the previous. */
  authenticators: Authenticator[];
  lockout: LoginLockout;
  audit: AuditSink;
  options?: LoginOptions;
  /** Called with directory errors (the login is refused, the details stay in the server's log). */
  onUnavailable?: (authenticator: string, detail: string) => void;
  now?: () => number;
}

/**
 * Password logins of people: lockout, the authenticator chain, the issued session or token, and
 * the audit of each. Every refusal of a username/password pair is the same 401 whatever the cause
 * (unknown user, wrong password, disabled account, directory down), so answers reveal no user.
 */
export class LoginService {
  readonly #d: LoginDeps;
  readonly #now: () => number;
  readonly sessionTtlMs: number;
  readonly tokenTtlMs: number;
  readonly maxTtlMs: number;

  constructor(deps: LoginDeps) {
    this.#d = deps;
    this.#now = deps.now ?? Date.now;
    this.sessionTtlMs = deps.options?.sessionTtlMs ?? 8 * 3_600_000;
    this.tokenTtlMs = deps.options?.tokenTtlMs ?? 24 * 3_600_000;
    this.maxTtlMs = deps.options?.maxTtlMs ?? 30 * 86_400_000;
  }

  /** Checks the password and issues a token; throws OutpostError with an HTTP status on refusal. */
  async login(req: LoginRequest): Promise<LoginGranted> {
    const scope = req.scope === undefined ? null : normalizeScope(req.scope);
    const ttlMs = this.#ttl(req);
    const now = this.#now();
    const actor = actorOf(req.username);
    const lock = this.#d.lockout.locked(req.username, req.source, now);
    if (lock) {
      this.#audit({
        type: "operator.login.failure",
        actor,
        outcome: "failure",
        source: req.source,
        code: ErrorCode.TooManyRequests,
        details: { reason: "locked-out", lock: lock.scope, kind: req.kind },
      });
      throw tooMany(lock.retryAfterMs);
    }
    let result: AuthResult = { ok: false, reason: "unknown-user" };
    let by = "none";
    for (const a of this.#d.authenticators) {
      by = a.name;
      result = await a.authenticate({ username: req.username, password: req.password, source: req.source });
      if (result.ok || result.reason !== "unknown-user") break;
    }
    let operator: OperatorRecord | undefined;
    let reason: string | undefined = result.ok ? undefined : result.reason;
    if (result.ok) {
      operator = await this.#operatorFor(result.username, by, req.source);
      if (!operator) reason = "no-operator";
    } else if (result.reason === "unavailable") {
      this.#d.onUnavailable?.(by, result.detail ?? "");
    }
    if (!result.ok || !operator) {
      // A directory outage is not the user's guess: it does not count towards a lockout.
      const locks = reason === "unavailable" ? [] : this.#d.lockout.failure(req.username, req.source, now);
      this.#audit({
        type: "operator.login.failure",
        actor,
        outcome: "failure",
        source: req.source,
        code: ErrorCode.Unauthorized,
        details: { reason, authenticator: by, kind: req.kind },
      });
      for (const l of locks) {
        this.#audit({
          type: "operator.lockout",
          actor: l.scope === "user" ? actor : "unknown",
          outcome: "failure",
          source: req.source,
          code: ErrorCode.TooManyRequests,
          details: { lock: l.scope, lockedForMs: l.retryAfterMs },
        });
      }
      throw new OutpostError(ErrorCode.Unauthorized, "invalid username or password", { status: 401 });
    }
    this.#d.lockout.success(req.username);
    const groups = result.groups;
    const issued = await this.#d.credentials.issue({
      operator: operator.name,
      kind: req.kind,
      authenticator: by,
      groups,
      scope,
      source: req.source,
      ttlMs,
    });
    const stored = this.#d.audit.append({
      type: "operator.login.success",
      actor: `operator:${operator.name}`,
      outcome: "success",
      source: req.source,
      details: {
        authenticator: by,
        kind: req.kind,
        tokenId: issued.record.tokenId,
        ...(groups.length ? { groups } : {}),
      },
    });
    const created =
      stored &&
      this.#d.audit.append({
        type: "operator.token.create",
        actor: `operator:${operator.name}`,
        target: `operator-token:${issued.record.tokenId}`,
        outcome: "success",
        source: req.source,
        details: {
          kind: req.kind,
          expiresAt: new Date(issued.record.expiresAt).toISOString(),
          scope: scope ?? "full",
        },
      });
    if (!created) {
      // A login that cannot be recorded does not happen (as for devices: docs/security.md).
      await this.#d.credentials.revoke(issued.record.tokenId);
      throw new OutpostError(ErrorCode.Unavailable, "the audit log cannot be written; try again later", {
        status: 503,
      });
    }
    return {
      token: issued.token,
      record: issued.record,
      operator: (await this.#d.credentials.operator(operator.name, groups)) ?? operator,
    };
  }

  /** Revokes a login token (logout); records who did it. Returns false when it was not live. */
  async revoke(tokenId: string, actor: string, source: string, via: string): Promise<boolean> {
    const done = await this.#d.credentials.revoke(tokenId);
    if (done) {
      this.#audit({
        type: "operator.token.revoke",
        actor,
        target: `operator-token:${tokenId}`,
        outcome: "success",
        source,
        details: { via },
      });
    }
    return done;
  }

  #ttl(req: LoginRequest): number {
    const def = req.kind === "session" ? this.sessionTtlMs : this.tokenTtlMs;
    if (req.ttlMs === undefined) return def;
    const max = req.kind === "session" ? this.sessionTtlMs : this.maxTtlMs;
    if (!Number.isSafeInteger(req.ttlMs) || req.ttlMs < 60_000 || req.ttlMs > max) {
      throw new OutpostError(
        ErrorCode.BadRequest,
        `ttlSeconds must be from 60 to ${Math.floor(max / 1000)} for a ${req.kind}`,
        { status: 400 },
      );
    }
    return req.ttlMs;
  }

  async #operatorFor(username: string, by: string, source: string): Promise<OperatorRecord | undefined> {
    const existing = await this.#d.credentials.operator(username);
    if (existing || by === "local" || this.#d.options?.createDirectoryOperators === false) return existing;
    try {
      if (await this.#d.credentials.ensureOperator(username)) {
        this.#audit({
          type: "admin.change",
          actor: "system",
          target: `operator:${username}`,
          outcome: "success",
          source,
          details: { action: "operator.add", admin: false, via: `${by} login` },
        });
      }
    } catch {
      return undefined;
    }
    return await this.#d.credentials.operator(username);
  }

  #audit(event: AuditEvent): void {
    this.#d.audit.append(event);
  }
}

/** Checks and copies a requested scope (OUTPOST_BAD_REQUEST, status 400, naming the entry). */
export function normalizeScope(raw: TokenScope): TokenScope {
  const bad = (message: string): never => {
    throw new OutpostError(ErrorCode.BadRequest, message, { status: 400 });
  };
  const scope: TokenScope = {};
  if (raw.permissions !== undefined) {
    for (const p of raw.permissions)
      if (!isPermission(p)) bad(`scope.permissions: unknown permission ${JSON.stringify(p)}`);
    scope.permissions = [...new Set(raw.permissions)];
  }
  const names = (list: string[] | undefined, field: string, check: (n: string) => void): string[] | undefined => {
    if (list === undefined) return undefined;
    if (list.length > MAX_SCOPE_ENTRIES) bad(`scope.${field}: at most ${MAX_SCOPE_ENTRIES} entries`);
    for (const n of list) {
      try {
        check(n);
      } catch (err) {
        bad(`scope.${field}: ${(err as Error).message}`);
      }
    }
    return [...new Set(list)];
  };
  const things = names(raw.things, "things", assertThingName);
  const devices = names(raw.devices, "devices", assertDeviceId);
  if (things) scope.things = things;
  if (devices) scope.devices = devices;
  return scope;
}

function actorOf(username: string): string {
  try {
    assertOperatorName(username);
    return `operator:${username}`;
  } catch {
    return "unknown";
  }
}

/** A login refused by a lockout (429); `retryAfterSeconds` goes into the Retry-After header. */
export class LoginLockedError extends OutpostError {
  readonly retryAfterSeconds: number;

  constructor(retryAfterSeconds: number) {
    super(ErrorCode.TooManyRequests, `too many failed logins; try again in ${retryAfterSeconds} s`, { status: 429 });
    this.name = "LoginLockedError";
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

function tooMany(retryAfterMs: number): OutpostError {
  return new LoginLockedError(Math.max(1, Math.ceil(retryAfterMs / 1000)));
}
