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
  /** A directory to authenticate against after the local passwords; null: none. */
  ldap: LdapConfig | null;
}

/** config.json `login.ldap` (see LdapOptions in auth/ldap.ts for each field). */
export interface LdapConfig {
  url: string;
  startTls: boolean;
  /** PEM file of the CA the directory's certificate chains to, relative to the data directory. */
  caFile?: string;
  bindDn?: string;
  /** File holding the service account's password (first line), relative to the data directory. */
  bindPasswordFile?: string;
  userBase: string;
  userFilter: string;
  usernameAttribute: string;
  groupBase?: string;
  groupFilter: string;
  groupMap: Record<string, string[]>;
  disabledFilter?: string;
  timeoutMs: number;
  /** Whether a directory user without an operator gets one (not an admin) at the first login. Default true. */
  createOperators: boolean;
}

const LDAP_KEYS = [
  "url",
  "startTls",
  "caFile",
  "bindDn",
  "bindPasswordFile",
  "userBase",
  "userFilter",
  "usernameAttribute",
  "groupBase",
  "groupFilter",
  "groupMap",
  "disabledFilter",
  "timeoutMs",
  "createOperators",
];
const GROUP_NAME = /^[A-Za-z0-9][A-Za-z0-9 ._@-]{0,127}$/;
const LOOPBACK = /^(127\.\d+\.\d+\.\d+|\[::1\]|localhost)$/i;

/** The defaults of {@link LoginConfig}. */
export function defaultLoginConfig(): LoginConfig {
  return {
    sessionTtlMs: 8 * 3_600_000,
    tokenTtlMs: 24 * 3_600_000,
    maxTtlMs: 30 * 86_400_000,
    lockout: { maxUserFailures: 5, maxSourceFailures: 20, windowMs: 15 * 60_000, lockMs: 15 * 60_000 },
    ldap: null,
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
    ldap: o.ldap === undefined || o.ldap === null ? null : validateLdap(object(o.ldap, "login.ldap", bad), bad),
  };
}

function validateLdap(o: Record<string, unknown>, bad: Bad): LdapConfig {
  known(o, LDAP_KEYS, "login.ldap", bad);
  const f = (k: string) => `login.ldap.${k}`;
  const str = (k: string, d?: string): string | undefined => {
    const v = o[k] ?? d;
    if (v === undefined) return undefined;
    return typeof v === "string" && v.length > 0 ? v : bad(f(k), "a non-empty string");
  };
  const bool = (k: string, d: boolean): boolean => {
    const v = o[k] ?? d;
    return typeof v === "boolean" ? v : bad(f(k), "true or false");
  };
  const url = str("url") ?? bad(f("url"), "an ldaps:// or ldap:// URL");
  const m = /^(ldaps?):\/\/(\[[^\]]+\]|[^:/]+)(?::(\d+))?\/?$/.exec(url);
  if (!m) bad(f("url"), "an ldaps:// or ldap:// URL with host and optional port only");
  const startTls = bool("startTls", false);
  if (m![1] === "ldap" && !startTls && !LOOPBACK.test(m![2]!)) {
    bad(
      f("url"),
      "ldaps://, or ldap:// with startTls: true (plain ldap:// only to a loopback host: passwords would cross the network in clear)",
    );
  }
  const userFilter = str("userFilter", "(uid={username})")!;
  if (!userFilter.includes("{username}") || !userFilter.startsWith("("))
    bad(f("userFilter"), "a filter containing {username}");
  const groupFilter = str("groupFilter", "(member={dn})")!;
  if (!groupFilter.includes("{dn}") || !groupFilter.startsWith("(")) bad(f("groupFilter"), "a filter containing {dn}");
  const disabledFilter = str("disabledFilter");
  if (disabledFilter !== undefined && !disabledFilter.startsWith("(")) bad(f("disabledFilter"), "an LDAP filter");
  const bindDn = str("bindDn");
  const bindPasswordFile = str("bindPasswordFile");
  if ((bindDn === undefined) !== (bindPasswordFile === undefined))
    bad(f("bindPasswordFile"), "given together with bindDn");
  const groupMap: Record<string, string[]> = {};
  const rawMap = o.groupMap === undefined ? {} : object(o.groupMap, f("groupMap"), bad);
  for (const [dn, v] of Object.entries(rawMap)) {
    const names = Array.isArray(v) ? v : [v];
    if (!dn.includes("=") || names.length === 0 || !names.every((n) => typeof n === "string" && GROUP_NAME.test(n))) {
      bad(`${f("groupMap")}["${dn}"]`, "an Outpost group name or a list of them, under a group DN");
    }
    groupMap[dn] = names as string[];
  }
  const timeoutMs = o.timeoutMs ?? 5_000;
  if (!Number.isSafeInteger(timeoutMs) || (timeoutMs as number) < 100 || (timeoutMs as number) > 60_000) {
    bad(f("timeoutMs"), "an integer from 100 to 60000");
  }
  const caFile = str("caFile");
  const groupBase = str("groupBase");
  return {
    url,
    startTls,
    ...(caFile !== undefined ? { caFile } : {}),
    ...(bindDn !== undefined ? { bindDn } : {}),
    ...(bindPasswordFile !== undefined ? { bindPasswordFile } : {}),
    userBase: str("userBase") ?? bad(f("userBase"), "the DN under which users are searched"),
    userFilter,
    usernameAttribute: str("usernameAttribute", "uid")!,
    ...(groupBase !== undefined ? { groupBase } : {}),
    groupFilter,
    groupMap,
    ...(disabledFilter !== undefined ? { disabledFilter } : {}),
    timeoutMs: timeoutMs as number,
    createOperators: bool("createOperators", true),
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
