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
  /** Whether TLS resumed an earlier session (an abbreviated handshake). */
  tlsResumed?: boolean;
}

/** The outcome of {@link authenticate}. */
export type AuthOutcome =
  | { ok: true; deviceId: string; keyId: string; keyExpiresAt: number | null }
  | {
      ok: false;
      status: number;
      code: string;
      message: string;
      /** The key or device can no longer authenticate (revoked, expired, disabled), as opposed to a bad key. */
      revoked: boolean;
      /** For 429: when the block ends; for 503: when to try again. In ms (a reconnect hint). */
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
 * failure limits, and audits the attempt (never the secret).
 *
 * Who a failure is counted against: the presenting certificate identity when there is one (so a
 * device that keeps failing blocks itself), the key only when that identity is the key's own
 * device (so presenting `opk_<victim keyId>_<anything>` with another certificate cannot lock the
 * victim out), and the source address when no verified certificate was presented. A source block
 * therefore never refuses a device with a valid certificate, so one misbehaving device behind a
 * shared address (NAT) does not lock out the others.
 */
export async function authenticate(deps: EdgeDeps, attempt: AuthAttempt): Promise<AuthOutcome> {
  const parsed = parseAppKey(attempt.appKey);
  const claimedKeyId = parsed.ok ? parsed.id : undefined;
  const identity = attempt.certDeviceId;
  const fail = (
    status: number,
    code: string,
    message: string,
    keyId?: string,
    deviceId?: string,
    revoked = false,
  ): AuthOutcome => {
    const counted = code !== ErrorCode.TooManyRequests;
    const ownKey = keyId !== undefined && identity !== undefined && deviceId === identity;
    if (counted) {
      if (identity === undefined) deps.sourceLimiter.recordFailure(attempt.source);
      else deps.identityLimiter.recordFailure(identity);
      if (ownKey) deps.keyLimiter.recordFailure(keyId);
    }
    deps.audit.append({
      type: "login.failure",
      actor: keyId ? `key:${keyId}` : "unknown",
      outcome: "failure",
      source: attempt.source,
      code,
      details: {
        keyId: keyId ?? null,
        deviceId: deviceId ?? identity ?? null,
        certDeviceId: identity ?? null,
        message,
        session: attempt.sessionId,
      },
    });
    deps.logger.warn({ keyId, source: attempt.source, code, reason: message }, "device authentication failed");
    if (counted) return { ok: false, status, code, message, revoked };
    return { ok: false, status, code, message, revoked, retryAfterMs: retryAfter(deps, attempt, claimedKeyId) };
  };

  if (isBlocked(deps, attempt, claimedKeyId)) {
    return fail(Status.TooManyRequests, ErrorCode.TooManyRequests, "too many failed attempts, try later", claimedKeyId);
  }
  const check = await deps.registry.checkKey(attempt.appKey);
  if (!check.ok) {
    const text = REASON_TEXT[check.reason] ?? "invalid application key";
    const revoked = check.reason === "revoked" || check.reason === "expired" || check.reason === "device-disabled";
    return fail(
      Status.Unauthorized,
      ErrorCode.Unauthorized,
      text,
      check.keyId ?? claimedKeyId,
      check.deviceId,
      revoked,
    );
  }
  const { keyId, deviceId } = check.key;
  if (identity === undefined && deps.clientCert === "required") {
    return fail(Status.Unauthorized, ErrorCode.Unauthorized, "a client certificate is required", keyId, deviceId);
  }
  if (identity !== undefined && identity !== deviceId) {
    return fail(
      Status.Forbidden,
      ErrorCode.Forbidden,
      "application key belongs to another device than the certificate",
      keyId,
      deviceId,
    );
  }
  if (identity === undefined) deps.sourceLimiter.recordSuccess(attempt.source);
  else deps.identityLimiter.recordSuccess(identity);
  deps.keyLimiter.recordSuccess(keyId);
  const recorded = deps.audit.append({
    type: "login.success",
    actor: `device:${deviceId}`,
    outcome: "success",
    source: attempt.source,
    details: {
      keyId,
      deviceId,
      session: attempt.sessionId,
      clientCert: identity !== undefined,
      tlsResumed: attempt.tlsResumed === true,
    },
  });
  if (!recorded) return auditUnavailable();
  return { ok: true, deviceId, keyId, keyExpiresAt: check.key.expiresAt };
}

/**
 * A key is blocked only by failures presented with its own device's certificate, so refusing
 * whoever presents a blocked key id gives nobody else a way to start or renew the block.
 */
function isBlocked(deps: EdgeDeps, attempt: AuthAttempt, claimedKeyId: string | undefined): boolean {
  const identity = attempt.certDeviceId;
  if (identity === undefined) return deps.sourceLimiter.isBlocked(attempt.source);
  return (
    deps.identityLimiter.isBlocked(identity) || (claimedKeyId !== undefined && deps.keyLimiter.isBlocked(claimedKeyId))
  );
}

function retryAfter(deps: EdgeDeps, attempt: AuthAttempt, claimedKeyId: string | undefined): number {
  const identity = attempt.certDeviceId;
  if (identity === undefined) return deps.sourceLimiter.retryAfterMs(attempt.source);
  return Math.max(
    deps.identityLimiter.retryAfterMs(identity),
    claimedKeyId === undefined ? 0 : deps.keyLimiter.retryAfterMs(claimedKeyId),
  );
}

/** How long a device refused because the audit log cannot be written is asked to wait, in ms. */
export const AUDIT_UNAVAILABLE_RETRY_MS = 5_000;

// Fail closed: a login that cannot be recorded is not accepted. The guard has logged the failure.
function auditUnavailable(): AuthOutcome {
  return {
    ok: false,
    status: Status.Unavailable,
    code: ErrorCode.Unavailable,
    message: "the server cannot write its audit log: logins are refused, try again later",
    revoked: false,
    retryAfterMs: AUDIT_UNAVAILABLE_RETRY_MS,
  };
}
