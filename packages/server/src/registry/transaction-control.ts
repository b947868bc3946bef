import type Database from "better-sqlite3";
import { WalSync } from "./wal-sync.js";

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
  #deferred = false;
  /**
   * For a database file in WAL mode: syncs its log off the event loop, for transactions begun
   * with `deferSync` (undefined in memory, where nothing is synced).
   */
  readonly wal: WalSync | undefined;

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
    const wal = !db.memory && String(db.pragma("journal_mode", { simple: true })).toLowerCase() === "wal";
    this.wal = wal ? new WalSync(`${db.name}-wal`) : undefined;
  }

  /**
   * Opens a transaction. With `deferSync` (and {@link wal}) its COMMIT does not sync the log: the
   * caller must await `wal.sync()` after the commit before it tells anyone the writes are durable.
   */
  begin(deferSync = false): void {
    this.#deferred = deferSync && this.wal !== undefined;
    // exec, not a prepared statement: SQLite applies this pragma when it compiles it.
    if (this.#deferred) this.db.exec("PRAGMA synchronous = NORMAL");
    try {
      this.#begin.run();
    } catch (err) {
      this.#restoreSync();
      throw err;
    }
  }

  commit(): void {
    try {
      this.#commit.run();
    } finally {
      if (!this.db.inTransaction) this.#restoreSync();
    }
  }

  #restoreSync(): void {
    if (!this.#deferred) return;
    this.#deferred = false;
    this.db.exec("PRAGMA synchronous = FULL");
  }

  /** Undoes the open transaction; also when the storage engine already ended it. */
  rollback(): void {
    try {
      if (this.db.inTransaction) this.#rollback.run();
    } finally {
      if (!this.db.inTransaction) this.#restoreSync();
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
