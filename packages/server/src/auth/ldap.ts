import { Client, InvalidCredentialsError } from "ldapts";
import { assertOperatorName } from "../registry/names.js";
import type { Authenticator, AuthResult, PasswordAttempt } from "./authenticator.js";

/** Settings of the LDAP authenticator (config.json `login.ldap`, docs/authentication.md). */
export interface LdapOptions {
  /** `ldaps://host:636`, or `ldap://host:389` (with `startTls`, or on a loopback host only). */
  url: string;
  /** Upgrade an ldap:// connection with StartTLS before anything is sent. Default false. */
  startTls?: boolean;
  /** CA certificates (PEM) the directory's certificate must chain to; default: Node's roots. */
  caPem?: string;
  /** Service account that searches for users and groups; absent: anonymous search. */
  bindDn?: string;
  /** Its password. */
  bindPassword?: string;
  /** Where users are searched (subtree). */
  userBase: string;
  /** Filter finding one user; `{username}` is replaced by the escaped username. Default `(uid={username})`. */
  userFilter?: string;
  /** Attribute whose value is the Outpost operator name. Default "uid". */
  usernameAttribute?: string;
  /** Where groups are searched (subtree); absent: no groups. */
  groupBase?: string;
  /** Filter finding the user's groups; `{dn}` is the escaped user DN. Default `(member={dn})`. */
  groupFilter?: string;
  /** Directory group DN to Outpost group names. Groups not listed are ignored. */
  groupMap?: Record<string, string | string[]>;
  /** A user entry matching this filter is disabled and refused, e.g. `(employeeType=disabled)`. */
  disabledFilter?: string;
  /** Per-operation and connect timeout, in ms. Default 5 000. */
  timeoutMs?: number;
}

/**
 * The LDAP plug-in: search-then-bind. The service account (or an anonymous bind) finds the user's
 * entry, a second connection binds as that entry with the presented password, and the service
 * account then checks `disabledFilter` and reads the user's groups, mapped to Outpost group names
 * by `groupMap`. An unknown user costs a bind too (to a DN that does not exist), so it answers
 * after about the same work as a wrong password. Every connection is closed after the attempt.
 */
export class LdapAuthenticator implements Authenticator {
  readonly name = "ldap";
  readonly #o: Required<Pick<LdapOptions, "userFilter" | "usernameAttribute" | "groupFilter" | "timeoutMs">> &
    LdapOptions;
  readonly #groupMap: Map<string, string[]>;

  constructor(options: LdapOptions) {
    this.#o = {
      userFilter: "(uid={username})",
      usernameAttribute: "uid",
      groupFilter: "(member={dn})",
      timeoutMs: 5_000,
      ...options,
    };
    this.#groupMap = new Map(
      Object.entries(options.groupMap ?? {}).map(([dn, g]) => [normalizeDn(dn), Array.isArray(g) ? g : [g]]),
    );
  }

  async authenticate(attempt: PasswordAttempt): Promise<AuthResult> {
    const o = this.#o;
    // An empty password would be an unauthenticated bind, which directories accept.
    if (attempt.password.length === 0) return { ok: false, reason: "bad-password" };
    const service = this.#client();
    try {
      try {
        await this.#open(service);
        if (o.bindDn !== undefined) await service.bind(o.bindDn, o.bindPassword ?? "");
      } catch (err) {
        return unavailable(err);
      }
      let entries;
      try {
        ({ searchEntries: entries } = await service.search(o.userBase, {
          scope: "sub",
          filter: o.userFilter.replaceAll("{username}", escapeFilterValue(attempt.username)),
          attributes: [o.usernameAttribute],
          sizeLimit: 2,
        }));
      } catch (err) {
        return unavailable(err);
      }
      const entry = entries.length === 1 ? entries[0] : undefined;
      const bound = await this.#bindAs(entry?.dn ?? `cn=outpost-no-such-user,${o.userBase}`, attempt.password);
      if (!entry) {
        return {
          ok: false,
          reason: "unknown-user",
          ...(entries.length > 1 ? { detail: "several entries match" } : {}),
        };
      }
      if (bound !== "ok") return bound === "bad" ? { ok: false, reason: "bad-password" } : unavailable(bound);
      const raw = entry[o.usernameAttribute];
      const username = String(Array.isArray(raw) ? raw[0] : raw);
      try {
        assertOperatorName(username);
      } catch {
        return { ok: false, reason: "unknown-user", detail: `${o.usernameAttribute} is not a valid operator name` };
      }
      try {
        if (o.disabledFilter !== undefined) {
          const { searchEntries } = await service.search(entry.dn, {
            scope: "base",
            filter: o.disabledFilter,
            attributes: ["1.1"],
          });
          if (searchEntries.length > 0) return { ok: false, reason: "disabled" };
        }
        return { ok: true, username, groups: await this.#groups(service, entry.dn) };
      } catch (err) {
        return unavailable(err);
      }
    } finally {
      await service.unbind().catch(() => undefined);
    }
  }

  /** "ok", "bad" for wrong credentials, or the error of a directory that failed. */
  async #bindAs(dn: string, password: string): Promise<"ok" | "bad" | unknown> {
    const user = this.#client();
    try {
      await this.#open(user);
      await user.bind(dn, password);
      return "ok";
    } catch (err) {
      return err instanceof InvalidCredentialsError ? "bad" : err;
    } finally {
      await user.unbind().catch(() => undefined);
    }
  }

  async #groups(service: Client, userDn: string): Promise<string[]> {
    const o = this.#o;
    if (o.groupBase === undefined || this.#groupMap.size === 0) return [];
    const { searchEntries } = await service.search(o.groupBase, {
      scope: "sub",
      filter: o.groupFilter.replaceAll("{dn}", escapeFilterValue(userDn)),
      attributes: ["1.1"],
    });
    const groups = new Set<string>();
    for (const g of searchEntries) for (const name of this.#groupMap.get(normalizeDn(g.dn)) ?? []) groups.add(name);
    return [...groups].sort();
  }

  #client(): Client {
    return new Client({
      url: this.#o.url,
      timeout: this.#o.timeoutMs,
      connectTimeout: this.#o.timeoutMs,
      ...(this.#o.caPem !== undefined ? { tlsOptions: { ca: this.#o.caPem } } : {}),
    });
  }

  async #open(client: Client): Promise<void> {
    if (this.#o.startTls) await client.startTLS(this.#o.caPem !== undefined ? { ca: this.#o.caPem } : {});
  }
}

/** Escapes a value for an LDAP search filter (RFC 4515). */
export function escapeFilterValue(value: string): string {
  return value.replace(/[\\*()\0]/g, (c) => `\\${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

// Group DNs are compared without case and without spaces around separators.
function normalizeDn(dn: string): string {
  return dn
    .split(",")
    .map((rdn) =>
      rdn
        .split("=")
        .map((s) => s.trim())
        .join("="),
    )
    .join(",")
    .toLowerCase();
}

function unavailable(err: unknown): AuthResult {
  return { ok: false, reason: "unavailable", detail: err instanceof Error ? err.message : String(err) };
}
