import { ErrorCode, OutpostError } from "@outpost/protocol";
import type Database from "better-sqlite3";
import { generateOperatorToken, parseOperatorToken, verifySecret } from "../auth/app-keys.js";
import { assertOperatorName } from "./names.js";
import type { OperatorRecord, Permission } from "./types.js";

/** What a login issues: a browser session (cookie) or a token for scripts (bearer). */
export type LoginKind = "session" | "token";

/**
 * Narrows what a login token may do. A token with a scope holds the intersection of the operator's
 * permissions and the scope, and never the rights of an admin (listing devices, administration).
 * An absent field does not narrow: `{ things: ["pump-1"] }` keeps every permission, on pump-1 only
 * among Things and on every device.
 */
export interface TokenScope {
  /** Permissions the token may use; absent: every permission the operator holds. */
  permissions?: Permission[];
  /** Things the token may act on; absent: every Thing. */
  things?: string[];
  /** Devices the token may act on (tunnel.open, file.read, file.write); absent: every device. */
  devices?: string[];
}

/** A token issued by a login, as stored (never its secret). */
export interface LoginTokenRecord {
  tokenId: string;
  operator: string;
  kind: LoginKind;
  /** The authenticator that checked the password: "local" or "ldap". */
  authenticator: string;
  /** Outpost groups mapped from the directory at login (LDAP); empty for a local login. */
  groups: string[];
  /** null: the operator's full rights. */
  scope: TokenScope | null;
  /** Address the login came from. */
  source: string;
  createdAt: number;
  expiresAt: number;
  revokedAt: number | null;
}

/** Result of checking a presented login token. */
export type LoginTokenCheck =
  | { ok: true; record: LoginTokenRecord; operator: OperatorRecord }
  | { ok: false; reason: "malformed" | "unknown" | "mismatch" | "revoked" | "expired"; tokenId?: string };

/** What {@link SqliteCredentials.issue} needs. */
export interface IssueLogin {
  operator: string;
  kind: LoginKind;
  authenticator: string;
  groups: string[];
  scope: TokenScope | null;
  source: string;
  ttlMs: number;
}

interface TokenRow {
  token_id: string;
  operator: string;
  secret_hash: string;
  kind: LoginKind;
  authenticator: string;
  groups_json: string;
  scope_json: string | null;
  source: string;
  created_at: number;
  expires_at: number;
  revoked_at: number | null;
  admin: number;
  op_created_at: number;
}

/** How the credential store reaches the access model (registry/access-sql.ts). */
export interface CredentialHooks {
  /** Makes a newly created operator a member of its predefined groups. */
  enrol?(name: string): void;
  /** Whether the operator, with these directory groups too, is a member of Administrators. */
  isAdministrator?(name: string, groups: string[]): boolean;
}

/**
 * Operator passwords and login tokens on the registry's SQLite database (schema version 6).
 * Writes throw when the database cannot be written; nothing is then stored. Each method is one
 * statement, so a crash leaves either the old or the new state.
 */
export class SqliteCredentials {
  readonly #db: Database.Database;
  readonly #now: () => number;
  readonly #s: ReturnType<typeof prepare>;
  readonly #hooks: CredentialHooks;

  constructor(db: Database.Database, now: () => number = Date.now, hooks: CredentialHooks = {}) {
    this.#db = db;
    this.#now = now;
    this.#s = prepare(db);
    this.#hooks = hooks;
  }

  #admin(name: string, stored: number, groups: string[]): boolean {
    return this.#hooks.isAdministrator ? this.#hooks.isAdministrator(name, groups) : stored !== 0;
  }

  /** Stores (replaces) an operator's password hash. Throws OUTPOST_NOT_FOUND for an unknown operator. */
  setPassword(operator: string, hash: string): void {
    if (!this.#s.getOperator.get(operator))
      throw new OutpostError(ErrorCode.NotFound, `operator ${operator} not found`);
    this.#s.setPassword.run(operator, hash, this.#now());
  }

  /** The stored hash, or undefined when the operator has no password (or does not exist). */
  passwordHash(operator: string): string | undefined {
    return (this.#s.getPassword.get(operator) as { hash: string } | undefined)?.hash;
  }

  /** Removes an operator's password; true when there was one. */
  clearPassword(operator: string): boolean {
    return this.#s.clearPassword.run(operator).changes > 0;
  }

  /** The operator record (admin with these directory groups too), or undefined. */
  operator(name: string, groups: string[] = []): OperatorRecord | undefined {
    const row = this.#s.getOperator.get(name) as { name: string; admin: number; created_at: number } | undefined;
    return row && { name: row.name, admin: this.#admin(row.name, row.admin, groups), createdAt: row.created_at };
  }

  /**
   * Creates a non-admin operator unless one exists (a directory user's first login), enrolled in
   * its predefined groups; true when created.
   */
  ensureOperator(name: string): boolean {
    assertOperatorName(name);
    const created = this.#s.ensureOperator.run(name, this.#now()).changes > 0;
    if (created) this.#hooks.enrol?.(name);
    return created;
  }

  /** Issues a login token; the returned `token` is shown once and only its SHA-256 is stored. */
  issue(input: IssueLogin): { token: string; record: LoginTokenRecord } {
    const g = generateOperatorToken();
    const createdAt = this.#now();
    const record: LoginTokenRecord = {
      tokenId: g.id,
      operator: input.operator,
      kind: input.kind,
      authenticator: input.authenticator,
      groups: [...input.groups],
      scope: input.scope,
      source: input.source,
      createdAt,
      expiresAt: createdAt + input.ttlMs,
      revokedAt: null,
    };
    this.#s.insert.run(
      g.id,
      input.operator,
      g.secretHash,
      input.kind,
      input.authenticator,
      JSON.stringify(record.groups),
      input.scope === null ? null : JSON.stringify(input.scope),
      input.source,
      createdAt,
      record.expiresAt,
    );
    return { token: g.token, record };
  }

  /**
   * Checks a presented token in constant time with respect to its secret. "unknown" means no login
   * token has this id (it may still be a token of `operator add`).
   */
  check(presented: string, now: number = this.#now()): LoginTokenCheck {
    const parsed = parseOperatorToken(presented);
    if (!parsed.ok) return { ok: false, reason: "malformed" };
    const row = this.#s.get.get(parsed.id) as TokenRow | undefined;
    const matches = verifySecret(parsed.secret, row?.secret_hash);
    if (!row) return { ok: false, reason: "unknown" };
    const tokenId = row.token_id;
    if (!matches) return { ok: false, reason: "mismatch", tokenId };
    if (row.revoked_at !== null) return { ok: false, reason: "revoked", tokenId };
    if (row.expires_at <= now) return { ok: false, reason: "expired", tokenId };
    const record = fromRow(row);
    return {
      ok: true,
      record,
      // Directory groups count: a user mapped to Administrators is an admin for this token.
      operator: {
        name: row.operator,
        admin: this.#admin(row.operator, row.admin, record.groups),
        createdAt: row.op_created_at,
      },
    };
  }

  /** Revokes one login token; false when no live token has this id. */
  revoke(tokenId: string): boolean {
    return this.#s.revoke.run(this.#now(), tokenId).changes > 0;
  }

  /** Revokes every live login token of an operator; returns how many. */
  revokeAll(operator: string): number {
    return this.#s.revokeAll.run(this.#now(), operator).changes;
  }

  /** Login tokens not yet expired or revoked, of one operator or all, oldest first. */
  listActive(operator?: string): LoginTokenRecord[] {
    const now = this.#now();
    const rows = (operator === undefined ? this.#s.listAll.all(now) : this.#s.list.all(operator, now)) as TokenRow[];
    return rows.map(fromRow);
  }

  /** Deletes tokens that expired or were revoked before `before`; returns how many. */
  purge(before: number): number {
    return this.#db.prepare("DELETE FROM login_tokens WHERE expires_at < ? OR revoked_at < ?").run(before, before)
      .changes;
  }
}

function prepare(db: Database.Database) {
  const p = (sql: string) => db.prepare(sql);
  const active = "revoked_at IS NULL AND expires_at > ?";
  return {
    getOperator: p("SELECT * FROM operators WHERE name = ?"),
    ensureOperator: p("INSERT OR IGNORE INTO operators (name, admin, created_at) VALUES (?, 0, ?)"),
    setPassword: p(
      `INSERT INTO operator_passwords (operator, hash, updated_at) VALUES (?, ?, ?)
       ON CONFLICT(operator) DO UPDATE SET hash = excluded.hash, updated_at = excluded.updated_at`,
    ),
    getPassword: p("SELECT hash FROM operator_passwords WHERE operator = ?"),
    clearPassword: p("DELETE FROM operator_passwords WHERE operator = ?"),
    insert: p(
      `INSERT INTO login_tokens (token_id, operator, secret_hash, kind, authenticator, groups_json, scope_json,
         source, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    get: p(
      `SELECT t.*, o.admin AS admin, o.created_at AS op_created_at
       FROM login_tokens t JOIN operators o ON o.name = t.operator WHERE t.token_id = ?`,
    ),
    revoke: p("UPDATE login_tokens SET revoked_at = ? WHERE token_id = ? AND revoked_at IS NULL"),
    revokeAll: p("UPDATE login_tokens SET revoked_at = ? WHERE operator = ? AND revoked_at IS NULL"),
    list: p(`SELECT * FROM login_tokens WHERE operator = ? AND ${active} ORDER BY created_at`),
    listAll: p(`SELECT * FROM login_tokens WHERE ${active} ORDER BY created_at`),
  };
}

function fromRow(r: Omit<TokenRow, "admin" | "op_created_at">): LoginTokenRecord {
  return {
    tokenId: r.token_id,
    operator: r.operator,
    kind: r.kind,
    authenticator: r.authenticator,
    groups: JSON.parse(r.groups_json) as string[],
    scope: r.scope_json === null ? null : (JSON.parse(r.scope_json) as TokenScope),
    source: r.source,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    revokedAt: r.revoked_at,
  };
}
