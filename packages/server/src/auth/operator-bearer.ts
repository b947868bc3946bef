import { ErrorCode } from "@outpost/protocol";
import type { AuditSink } from "../audit/types.js";
import type { AsyncCredentialStore } from "../registry/async-types.js";
import type { LoginTokenRecord } from "../registry/credentials-sql.js";
import type { OperatorCheck, OperatorRecord } from "../registry/types.js";
import { parseOperatorToken } from "./app-keys.js";
import type { FailureLimiter } from "./rate-limit.js";

/** What {@link checkOperatorBearer} needs. */
export interface OperatorBearerDeps {
  /** Checks the tokens of `operator add`: the asynchronous registry (its answer may also come at once). */
  registry: { checkOperator(token: string): Promise<OperatorCheck> | OperatorCheck };
  audit: AuditSink;
  limiter: FailureLimiter;
  /** Login sessions and tokens; without it only the tokens of `operator add` are accepted. */
  credentials?: Pick<AsyncCredentialStore, "check"> | undefined;
}

/** Result of checking a presented operator token of either kind. */
export type BearerCheck =
  | {
      ok: true;
      operator: OperatorRecord;
      /** Set for a token issued by a login (session or script token), with its scope and expiry. */
      login?: LoginTokenRecord;
    }
  | { ok: false; reason: string };

/** How the token was presented: a session must come in its cookie, any other token as a bearer. */
export type Presentation = "bearer" | "cookie";

/**
 * Checks a token against the login tokens, then the tokens of `operator add`, without counting
 * or auditing (open event streams re-check their token with it).
 */
export async function checkOperatorToken(
  deps: Pick<OperatorBearerDeps, "registry" | "credentials">,
  token: string,
  via: Presentation = "bearer",
): Promise<BearerCheck> {
  const login = await deps.credentials?.check(token);
  if (login && (login.ok || login.reason !== "unknown")) {
    if (!login.ok) return { ok: false, reason: login.reason };
    if ((login.record.kind === "session") !== (via === "cookie")) return { ok: false, reason: "wrong-kind" };
    return { ok: true, operator: login.operator, login: login.record };
  }
  if (via === "cookie") return { ok: false, reason: "unknown" };
  const check = await deps.registry.checkOperator(token);
  return check.ok ? { ok: true, operator: check.operator } : { ok: false, reason: check.reason };
}

/**
 * Checks the bearer token of an `Authorization` header (or, with `via` "cookie", the session
 * token of the session cookie), for the operator API and its tunnel WebSocket alike. A failure
 * counts against `source` in the limiter and is audited as `operator.login.failure` (the token's
 * id only, never its secret); a success clears the source's failures. The caller answers 401 on
 * failure and checks the limiter's block first.
 */
export async function checkOperatorBearer(
  deps: OperatorBearerDeps,
  header: string | undefined,
  source: string,
  via: Presentation = "bearer",
): Promise<{ check: BearerCheck; token: string }> {
  const token = via === "cookie" ? (header ?? "") : (/^Bearer\s+(\S+)\s*$/i.exec(header ?? "")?.[1] ?? "");
  const check = await checkOperatorToken(deps, token, via);
  if (!check.ok) {
    deps.limiter.recordFailure(source);
    const parsed = parseOperatorToken(token);
    deps.audit.append({
      type: "operator.login.failure",
      actor: parsed.ok ? `token:${parsed.id}` : "unknown",
      outcome: "failure",
      source,
      code: ErrorCode.Unauthorized,
      details: { reason: header ? check.reason : "missing", ...(via === "cookie" ? { via } : {}) },
    });
  } else {
    deps.limiter.recordSuccess(source);
  }
  return { check, token };
}
