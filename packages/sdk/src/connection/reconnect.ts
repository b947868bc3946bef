import { ErrorCode, isOutpostError, MAX_TIMER_MS, OutpostError } from "@outpost/protocol";

/** Reconnect policy: exponential backoff with full jitter, rotating through the URLs. */
export interface ReconnectOptions {
  /** Upper bound of the first delay. Default 500 ms. */
  initialDelayMs?: number;
  /** Upper bound of any delay. Default 30_000 ms. */
  maxDelayMs?: number;
  /** Growth of the bound per failed attempt. Default 2. */
  multiplier?: number;
  /** Consecutive failed attempts before giving up (status "disconnected" without retry). Default Infinity. */
  maxAttempts?: number;
}

/** Resolved reconnect policy. */
export interface Backoff {
  readonly maxAttempts: number;
  /** Delay before attempt `failures + 1`, given `failures` consecutive failures (>= 1). */
  delay(failures: number): number;
}

/** Builds the backoff; `random` returns [0, 1) and is injectable for tests. */
export function createBackoff(options: ReconnectOptions = {}, random: () => number = Math.random): Backoff {
  const initial = options.initialDelayMs ?? 500;
  const max = options.maxDelayMs ?? 30_000;
  const multiplier = options.multiplier ?? 2;
  const maxAttempts = options.maxAttempts ?? Number.POSITIVE_INFINITY;
  if (!(initial >= 0 && max >= initial && multiplier >= 1 && maxAttempts >= 1)) {
    throw new OutpostError(
      ErrorCode.InvalidConfig,
      "reconnect: need 0 <= initialDelayMs <= maxDelayMs, multiplier >= 1, maxAttempts >= 1",
    );
  }
  return {
    maxAttempts,
    delay(failures: number): number {
      const bound = Math.min(max, initial * multiplier ** Math.max(0, failures - 1));
      return Math.floor(random() * bound);
    },
  };
}

const FINAL_CODES = new Set<string>([
  ErrorCode.Unauthorized,
  ErrorCode.Forbidden,
  ErrorCode.Tls,
  ErrorCode.InvalidConfig,
  ErrorCode.ProxyAuth,
  ErrorCode.UnsupportedVersion,
]);

/**
 * Errors that reconnecting cannot fix, by code, whether they come from an AuthResult, a Goodbye's
 * `code` or a local check: OUTPOST_UNAUTHORIZED (key unknown, revoked or expired, device disabled),
 * OUTPOST_FORBIDDEN (key and certificate identities differ), OUTPOST_TLS, OUTPOST_INVALID_CONFIG,
 * OUTPOST_PROXY_AUTH (the proxy refused the credentials) and OUTPOST_UNSUPPORTED_VERSION (no common protocol version). Everything else (network,
 * timeouts, 429, 5xx, protocol errors) is retried with backoff. docs/protocol.md §9 lists them too.
 */
export function isFinalError(err: unknown): boolean {
  return isOutpostError(err) && FINAL_CODES.has(err.code);
}

/** Sleeps `ms` (at most MAX_TIMER_MS), or rejects early when `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(
      () => {
        signal.removeEventListener("abort", onAbort);
        resolve();
      },
      Math.min(ms, MAX_TIMER_MS),
    );
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
