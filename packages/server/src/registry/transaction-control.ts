import type Database from "better-sqlite3";

/** The one savepoint name: savepoints nest as a stack, and RELEASE or ROLLBACK TO takes the innermost. */
const SAVEPOINT = "outpost_tx";

/**
 * Explicit transaction statements on the registry's connection, for a unit of work that spans
 * awaits (registry/async-sqlite.ts); better-sqlite3's own transactions cannot. Writes made through
 * the registry while one is open join it (its own transactions become savepoints). The statements
 * are prepared once: the commit group runs a savepoint per device batch.
 */
export class TransactionControl {
  readonly #begin: Database.Statement;
  readonly #commit: Database.Statement;
  readonly #rollback: Database.Statement;
  readonly #savepoint: Database.Statement;
  readonly #release: Database.Statement;
  readonly #rollbackTo: Database.Statement;

  constructor(
    private readonly db: Database.Database,
    /** Called after a rollback: caches filled from the undone writes must be forgotten. */
    private readonly rolledBack: () => void,
  ) {
    this.#begin = db.prepare("BEGIN IMMEDIATE");
    this.#commit = db.prepare("COMMIT");
    this.#rollback = db.prepare("ROLLBACK");
    this.#savepoint = db.prepare(`SAVEPOINT ${SAVEPOINT}`);
    this.#release = db.prepare(`RELEASE ${SAVEPOINT}`);
    this.#rollbackTo = db.prepare(`ROLLBACK TO ${SAVEPOINT}`);
  }

  begin(): void {
    this.#begin.run();
  }

  commit(): void {
    this.#commit.run();
  }

  /** Undoes the open transaction; also when the storage engine already ended it. */
  rollback(): void {
    try {
      if (this.db.inTransaction) this.#rollback.run();
    } finally {
      this.rolledBack();
    }
  }

  /** Opens a savepoint inside the open transaction. */
  savepoint(): void {
    this.#savepoint.run();
  }

  /** Ends the innermost savepoint, keeping its writes. */
  release(): void {
    this.#release.run();
  }

  /** Undoes the writes since the innermost savepoint and ends it. */
  rollbackTo(): void {
    try {
      if (this.db.inTransaction) {
        this.#rollbackTo.run();
        this.#release.run();
      }
    } finally {
      this.rolledBack();
    }
  }
}
