import { ErrorCode, OutpostError } from "@outpost/protocol";

/** config.json `login`: password logins of people (docs/authentication.md). */
export interface LoginConfig {
  /** Lifetime of a browser session, in ms. Default 8 h. */
  sessionTtlMs: number;
  /** Lifetime of a script token when the login does not ask for less, in ms. Default 24 h. */
  tokenTtlMs: number;
  /** Longest lifetime a login may ask for, in ms. Default 30 days. */
  maxTtlMs: number;
  /** Lockout after failed logins (in memory). */
  lockout: {
    /** Failures of one username inside the window that lock it. Default 5. */
    maxUserFailures: number;
    /** Failures from one source address inside the window that lock it. Default 20. */
    maxSourceFailures: number;
    /** Counting window, in ms. Default 15 min. */
    windowMs: number;
    /** How long a lock lasts, in ms. Default 15 min. */
    lockMs: number;
  };
}

/** The defaults of {@link LoginConfig}. */
export function defaultLoginConfig(): LoginConfig {
  return {
    sessionTtlMs: 8 * 3_600_000,
    tokenTtlMs: 24 * 3_600_000,
    maxTtlMs: 30 * 86_400_000,
    lockout: { maxUserFailures: 5, maxSourceFailures: 20, windowMs: 15 * 60_000, lockMs: 15 * 60_000 },
  };
}

type Bad = (field: string, want: string) => never;

/** Checks config.json `login` (undefined: the defaults); problems are OUTPOST_INVALID_CONFIG naming the field. */
export function validateLoginConfig(raw: unknown, bad: Bad): LoginConfig {
  const def = defaultLoginConfig();
  if (raw === undefined) return def;
  const o = object(raw, "login", bad);
  known(o, Object.keys(def), "login", bad);
  const lock = o.lockout === undefined ? {} : object(o.lockout, "login.lockout", bad);
  known(lock, Object.keys(def.lockout), "login.lockout", bad);
  const int = (v: unknown, d: number, field: string, min: number, max: number): number => {
    const x = v ?? d;
    return Number.isSafeInteger(x) && (x as number) >= min && (x as number) <= max
      ? (x as number)
      : bad(field, `an integer from ${min} to ${max}`);
  };
  const day = 86_400_000;
  const maxTtlMs = int(o.maxTtlMs, def.maxTtlMs, "login.maxTtlMs", 60_000, 365 * day);
  return {
    sessionTtlMs: int(o.sessionTtlMs, def.sessionTtlMs, "login.sessionTtlMs", 60_000, 7 * day),
    tokenTtlMs: int(o.tokenTtlMs, Math.min(def.tokenTtlMs, maxTtlMs), "login.tokenTtlMs", 60_000, maxTtlMs),
    maxTtlMs,
    lockout: {
      maxUserFailures: int(lock.maxUserFailures, def.lockout.maxUserFailures, "login.lockout.maxUserFailures", 1, 1000),
      maxSourceFailures: int(
        lock.maxSourceFailures,
        def.lockout.maxSourceFailures,
        "login.lockout.maxSourceFailures",
        1,
        100_000,
      ),
      windowMs: int(lock.windowMs, def.lockout.windowMs, "login.lockout.windowMs", 1_000, day),
      lockMs: int(lock.lockMs, def.lockout.lockMs, "login.lockout.lockMs", 1_000, day),
    },
  };
}

function object(v: unknown, field: string, bad: Bad): Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v)
    ? (v as Record<string, unknown>)
    : bad(field, "an object");
}

function known(o: Record<string, unknown>, keys: string[], field: string, _bad: Bad): void {
  for (const k of Object.keys(o)) {
    if (!keys.includes(k)) {
      throw new OutpostError(
        ErrorCode.InvalidConfig,
        `unknown key ${field}.${k} (known keys of ${field}: ${keys.join(", ")})`,
      );
    }
  }
}
