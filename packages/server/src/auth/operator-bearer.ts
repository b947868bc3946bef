import { ErrorCode } from "@outpost/protocol";
import type { AuditSink } from "../audit/types.js";
import type { OperatorCheck, Registry } from "../registry/types.js";
import { parseOperatorToken } from "./app-keys.js";
import type { FailureLimiter } from "./rate-limit.js";

/** What {@link checkOperatorBearer} needs. */
export interface OperatorBearerDeps {
  registry: Registry;
  audit: AuditSink;
  limiter: FailureLimiter;
}

/**
 * Checks the bearer token of an `Authorization` header, for the operator API and its tunnel
 * WebSocket alike. A failure counts against `source` in the limiter and is audited as
 * `operator.login.failure` (the token's id only, never its secret); a success clears the
 * source's failures. The caller answers 401 on failure and checks the limiter's block first.
 */
export function checkOperatorBearer(
  deps: OperatorBearerDeps,
  header: string | undefined,
  source: string,
): { check: OperatorCheck; token: string } {
  const token = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "")?.[1] ?? "";
  const check = deps.registry.checkOperator(token);
  if (!check.ok) {
    deps.limiter.recordFailure(source);
    const parsed = parseOperatorToken(token);
    deps.audit.append({
      type: "operator.login.failure",
      actor: parsed.ok ? `token:${parsed.id}` : "unknown",
      outcome: "failure",
      source,
      code: ErrorCode.Unauthorized,
      details: { reason: header ? check.reason : "missing" },
    });
  } else {
    deps.limiter.recordSuccess(source);
  }
  return { check, token };
}
