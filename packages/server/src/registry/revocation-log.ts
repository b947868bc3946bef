import type Database from "better-sqlite3";

/** What a revocation entry names: an application key (by key id) or a device (by id). */
export type RevocationKind = "key" | "device";

/** One change that may end live sessions: a key revoked, removed or re-dated; a device disabled, removed or its certificates revoked. */
export interface RevocationEntry {
  seq: number;
  kind: RevocationKind;
  /** The key id or the device id. */
  subject: string;
}

/**
 * Where the edge learns that live sessions may have to end, without re-reading every session's
 * key and device: registry version 7 keeps a log of such changes, written by SQLite triggers, so
 * the CLI in another process writes it too (registry/schema.ts).
 *
 * Failures: every method reads the database and throws when it cannot be read; the caller keeps
 * its cursor and asks again later, so nothing is skipped.
 */
export interface RevocationSource {
  /** The seq of the last entry, 0 when none: entries after it are what changed from now on. */
  cursor(): number;
  /**
   * Whether the database may hold entries after `cursor()` last returned: a change made through
   * this object since, or a commit by another connection (SQLite's `PRAGMA data_version`, about
   * 20 µs). Cheap enough to call once per interval for the whole server.
   */
  mayHaveChanged(): boolean;
  /** Entries after `cursor`, oldest first, at most `limit` (default 1000). */
  since(cursor: number, limit?: number): RevocationEntry[];
  /** Calls `listener` after each revocation made through this registry object. Returns the unsubscribe. */
  subscribe(listener: () => void): () => void;
  /** Deletes entries older than `beforeMs` (ms since epoch); returns how many. */
  prune(beforeMs: number): number;
}

/**
 * The revocation feed of the asynchronous registry contract: {@link RevocationSource} with every
 * read answering with a Promise, so that a networked database can keep the log. `subscribe` stays
 * synchronous: it only registers the listener. A rejected read leaves the caller's cursor where it
 * was; it asks again later, so nothing is skipped.
 */
export interface RevocationFeed {
  /** The seq of the last entry, 0 when none. */
  cursor(): Promise<number>;
  /** Whether the log may hold entries after the cursor last read (a cheap check, once per interval). */
  mayHaveChanged(): Promise<boolean>;
  /** Entries after `cursor`, oldest first, at most `limit` (default 1000). */
  since(cursor: number, limit?: number): Promise<RevocationEntry[]>;
  /** Calls `listener` after each revocation made through this registry object. Returns the unsubscribe. */
  subscribe(listener: () => void): () => void;
  /** Deletes entries older than `beforeMs` (ms since epoch); resolves with how many. */
  prune(beforeMs: number): Promise<number>;
}

/** {@link RevocationSource} on the registry's SQLite database. */
export class SqliteRevocationLog implements RevocationSource {
  readonly #db: Database.Database;
  readonly #listeners = new Set<() => void>();
  #dataVersion: Database.Statement | undefined;
  #since: Database.Statement | undefined;
  #seenDataVersion = -1;
  #localChange = false;

  /** `onCommitElsewhere` runs when data_version shows a commit by another connection (caches go stale). */
  constructor(
    db: Database.Database,
    private readonly onCommitElsewhere: () => void = () => undefined,
  ) {
    this.#db = db;
  }

  cursor(): number {
    this.mayHaveChanged();
    this.#localChange = false;
    const row = this.#db.prepare("SELECT MAX(seq) AS seq FROM revocations").get() as { seq: number | null };
    return row.seq ?? 0;
  }

  mayHaveChanged(): boolean {
    this.#dataVersion ??= this.#db.prepare("PRAGMA data_version").pluck();
    const version = this.#dataVersion.get() as number;
    const elsewhere = version !== this.#seenDataVersion;
    const changed = elsewhere || this.#localChange;
    this.#seenDataVersion = version;
    if (elsewhere) this.onCommitElsewhere();
    this.#localChange = false;
    return changed;
  }

  since(cursor: number, limit = 1000): RevocationEntry[] {
    this.#since ??= this.#db.prepare("SELECT seq, kind, subject FROM revocations WHERE seq > ? ORDER BY seq LIMIT ?");
    return this.#since.all(cursor, limit) as RevocationEntry[];
  }

  subscribe(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  prune(beforeMs: number): number {
    return this.#db.prepare("DELETE FROM revocations WHERE at < ?").run(beforeMs).changes;
  }

  /** A revocation was written through this registry object: tells the listeners. */
  changed(): void {
    this.#localChange = true;
    for (const listener of this.#listeners) {
      try {
        listener();
      } catch {
        // a listener's failure is its own; the change stays in the log for the next check
      }
    }
  }
}
