import type Database from "better-sqlite3";

/**
 * Explicit transaction statements on the registry's connection, for a unit of work that spans
 * awaits (registry/async-sqlite.ts); better-sqlite3's own transactions cannot. Writes made through
 * the registry while one is open join it (its own transactions become savepoints).
 */
export class TransactionControl {
  constructor(
    private readonly db: Database.Database,
    /** Called after a rollback: caches filled from the undone writes must be forgotten. */
    private readonly rolledBack: () => void,
  ) {}

  begin(): void {
    this.db.exec("BEGIN IMMEDIATE");
  }

  commit(): void {
    this.db.exec("COMMIT");
  }

  /** Undoes the open transaction; also when the storage engine already ended it. */
  rollback(): void {
    try {
      if (this.db.inTransaction) this.db.exec("ROLLBACK");
    } finally {
      this.rolledBack();
    }
  }

  savepoint(name: string): void {
    this.db.exec(`SAVEPOINT ${name}`);
  }

  release(name: string): void {
    this.db.exec(`RELEASE ${name}`);
  }

  /** Undoes the writes since savepoint `name` and ends it. */
  rollbackTo(name: string): void {
    try {
      if (this.db.inTransaction) this.db.exec(`ROLLBACK TO ${name}; RELEASE ${name}`);
    } finally {
      this.rolledBack();
    }
  }
}
