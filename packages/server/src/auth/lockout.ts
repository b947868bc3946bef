import { FailureLimiter } from "./rate-limit.js";

/** Limits on failed password logins (config.json `login.lockout`). */
export interface LockoutOptions {
  /** Failed logins for one username inside the window before it is locked. Default 5. */
  maxUserFailures?: number;
  /** Failed logins from one source address inside the window before it is locked. Default 20. */
  maxSourceFailures?: number;
  /** Counting window, in ms. Default 15 min. */
  windowMs?: number;
  /** How long a locked username or source stays locked, in ms. Default 15 min. */
  lockMs?: number;
  /** Most usernames and most sources tracked each (the least recently failed is forgotten). Default 10 000. */
  maxEntries?: number;
}

/** Why a login is not even tried. */
export interface Lock {
  /** "user": the username is locked (whoever tries it); "source": the address is. */
  scope: "user" | "source";
  retryAfterMs: number;
}

/**
 * Lockout of password logins, per username and per source address, in memory (a restart forgets
 * it). A username is counted whether or not such a user exists, so a lockout tells an attacker
 * nothing about which names are real. A success clears the username's count, not the source's:
 * logging in to one's own account must not reset the guessing budget for others'.
 */
export class LoginLockout {
  readonly #users: FailureLimiter;
  readonly #sources: FailureLimiter;

  constructor(options: LockoutOptions = {}) {
    const windowMs = options.windowMs ?? 15 * 60_000;
    const blockMs = options.lockMs ?? 15 * 60_000;
    const maxEntries = options.maxEntries ?? 10_000;
    this.#users = new FailureLimiter({ maxFailures: options.maxUserFailures ?? 5, windowMs, blockMs, maxEntries });
    this.#sources = new FailureLimiter({ maxFailures: options.maxSourceFailures ?? 20, windowMs, blockMs, maxEntries });
  }

  /** The lock that refuses a login of `username` from `source` now, or undefined. */
  locked(username: string, source: string, now: number = Date.now()): Lock | undefined {
    const user = this.#users.retryAfterMs(userKey(username), now);
    if (user > 0) return { scope: "user", retryAfterMs: user };
    const src = this.#sources.retryAfterMs(source, now);
    if (src > 0) return { scope: "source", retryAfterMs: src };
    return undefined;
  }

  /** Counts a failed login; returns the locks this failure started (to be audited). */
  failure(username: string, source: string, now: number = Date.now()): Lock[] {
    const started: Lock[] = [];
    const count = (limiter: FailureLimiter, key: string, scope: Lock["scope"]) => {
      const before = limiter.isBlocked(key, now);
      if (limiter.recordFailure(key, now) && !before)
        started.push({ scope, retryAfterMs: limiter.retryAfterMs(key, now) });
    };
    count(this.#users, userKey(username), "user");
    count(this.#sources, source, "source");
    return started;
  }

  /** Clears the username's failures after a successful login. */
  success(username: string): void {
    this.#users.recordSuccess(userKey(username));
  }
}

// Directories compare user names without case: "Alice" and "alice" share one count.
function userKey(username: string): string {
  return username.normalize("NFC").toLowerCase();
}
