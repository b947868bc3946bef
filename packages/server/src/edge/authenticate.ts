import { ErrorCode, Status } from "@outpost/protocol";
import { parseAppKey } from "../auth/app-keys.js";
import type { EdgeDeps } from "./context.js";

/** One presented application key with what TLS told us about the peer. */
export interface AuthAttempt {
  appKey: string;
  /** Subject CN of a verified client certificate; undefined when none was presented (optional mode). */
  certDeviceId: string | undefined;
  source: string;
  sessionId: string;
}

/** The outcome of {@link authenticate}. */
export type AuthOutcome =
  | { ok: true; deviceId: string; keyId: string }
  | {
      ok: false;
      status: number;
      code: string;
      message: string;
      /** The key or device can no longer authenticate (revoked, expired, disabled): Goodbye{AUTH_REVOKED}. */
      revoked: boolean;
      /** For 429: when the block ends, in ms (a reconnect hint). */
      retryAfterMs?: number;
    };

const REASON_TEXT: Record<string, string> = {
  malformed: "invalid application key",
  unknown: "invalid application key",
  mismatch: "invalid application key",
  revoked: "application key revoked",
  expired: "application key expired",
  "device-disabled": "device disabled",
};

/**
 * Checks an application key against the registry and the certificate identity, applies the
 * per-source and per-key failure limits, and audits the attempt (never the secret).
 */
export function authenticate(deps: EdgeDeps, attempt: AuthAttempt): AuthOutcome {
  const parsed = parseAppKey(attempt.appKey);
  const claimedKeyId = parsed.ok ? parsed.id : undefined;
  const fail = (
    status: number,
    code: string,
    message: string,
    keyId?: string,
    deviceId?: string,
    revoked = false,
  ): AuthOutcome => {
    const counted = code !== ErrorCode.TooManyRequests;
    if (counted) {
      deps.sourceLimiter.recordFailure(attempt.source);
      if (keyId) deps.keyLimiter.recordFailure(keyId);
    }
    deps.audit.append({
      type: "login.failure",
      actor: keyId ? `key:${keyId}` : "unknown",
      outcome: "failure",
      source: attempt.source,
      code,
      details: {
        keyId: keyId ?? null,
        deviceId: deviceId ?? attempt.certDeviceId ?? null,
        message,
        session: attempt.sessionId,
      },
    });
    deps.logger.warn({ keyId, source: attempt.source, code, reason: message }, "device authentication failed");
    if (counted) return { ok: false, status, code, message, revoked };
    const retryAfterMs = Math.max(
      deps.sourceLimiter.retryAfterMs(attempt.source),
      keyId ? deps.keyLimiter.retryAfterMs(keyId) : 0,
    );
    return { ok: false, status, code, message, revoked, retryAfterMs };
  };

  if (deps.sourceLimiter.isBlocked(attempt.source) || (claimedKeyId && deps.keyLimiter.isBlocked(claimedKeyId))) {
    return fail(Status.TooManyRequests, ErrorCode.TooManyRequests, "too many failed attempts, try later", claimedKeyId);
  }
  const check = deps.registry.checkKey(attempt.appKey);
  if (!check.ok) {
    const text = REASON_TEXT[check.reason] ?? "invalid application key";
    const revoked = check.reason === "revoked" || check.reason === "expired" || check.reason === "device-disabled";
    return fail(Status.Unauthorized, ErrorCode.Unauthorized, text, check.keyId ?? claimedKeyId, undefined, revoked);
  }
  const { keyId, deviceId } = check.key;
  if (attempt.certDeviceId === undefined && deps.clientCert === "required") {
    return fail(Status.Unauthorized, ErrorCode.Unauthorized, "a client certificate is required", keyId, deviceId);
  }
  if (attempt.certDeviceId !== undefined && attempt.certDeviceId !== deviceId) {
    return fail(
      Status.Forbidden,
      ErrorCode.Forbidden,
      "application key belongs to another device than the certificate",
      keyId,
      deviceId,
    );
  }
  deps.sourceLimiter.recordSuccess(attempt.source);
  deps.keyLimiter.recordSuccess(keyId);
  deps.audit.append({
    type: "login.success",
    actor: `device:${deviceId}`,
    outcome: "success",
    source: attempt.source,
    details: { keyId, deviceId, session: attempt.sessionId, clientCert: attempt.certDeviceId !== undefined },
  });
  return { ok: true, deviceId, keyId };
}
