import { ErrorCode, OutpostError } from "@outpost/protocol";
import type Database from "better-sqlite3";
import type { SqliteAccess } from "./access-sql.js";
import { assertOperatorName } from "./names.js";

/**
 * The writes an import of a model file needs (model/import.ts) that no other registry method
 * makes: a user without credentials, and the content of an existing device, group, organization
 * or unit replaced. Each throws OUTPOST_NOT_FOUND for a missing entity, OUTPOST_CONFLICT for an
 * existing user; nothing is changed then. Run them inside `SqliteRegistry.transaction`.
 */
export class SqliteModelWrites {
  readonly #db: Database.Database;
  readonly #access: SqliteAccess;
  readonly #now: () => number;

  constructor(db: Database.Database, access: SqliteAccess, now: () => number) {
    this.#db = db;
    this.#access = access;
    this.#now = now;
  }

  /** A user with no password and no token (it can log in once given one), in Operators. */
  addUser(name: string): void {
    assertOperatorName(name);
    const r = this.#db
      .prepare("INSERT OR IGNORE INTO operators (name, admin, created_at) VALUES (?, 0, ?)")
      .run(name, this.#now());
    if (r.changes === 0) throw new OutpostError(ErrorCode.Conflict, `operator ${name} already exists`, { status: 409 });
    this.#access.enrol({ kind: "user", name });
  }

  setDeviceDescription(id: string, description: string): void {
    this.#update("UPDATE devices SET description = ? WHERE id = ?", [description, id], `device ${id}`);
  }

  setGroupDescription(name: string, description: string): void {
    this.#update("UPDATE access_groups SET description = ? WHERE name = ?", [description, name], `group ${name}`);
  }

  setOrganizationDescription(name: string, description: string): void {
    this.#update(
      "UPDATE organizations SET description = ? WHERE name = ?",
      [description, name],
      `organization ${name}`,
    );
  }

  /** Moves a unit below another of its organization (the caller checks that the tree stays a tree). */
  setUnitParent(organization: string, unit: string, parent: string): void {
    this.#update(
      "UPDATE org_units SET parent = ? WHERE organization = ? AND name = ? AND parent IS NOT NULL",
      [parent, organization, unit],
      `unit ${organization}/${unit}`,
    );
  }

  #update(sql: string, args: unknown[], what: string): void {
    if (this.#db.prepare(sql).run(...args).changes === 0) {
      throw new OutpostError(ErrorCode.NotFound, `${what} not found`, { status: 404 });
    }
    this.#access.changed();
  }
}
