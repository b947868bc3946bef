import type Database from "better-sqlite3";

/** How a registry connection stores commits. */
export interface StorageSettings {
  journalMode: string;
  /** When a commit is synced to disk: "full" syncs every commit before it returns. */
  synchronous: "off" | "normal" | "full" | "extra";
}

/**
 * Sets up a registry connection: write-ahead log, every commit synced before it returns (nothing
 * is acknowledged before its commit, so an acknowledged value survives a power loss), foreign keys,
 * and how long to wait for another process's lock. Must run on every open: SQLite as built here
 * opens a database that is already in WAL mode with synchronous = NORMAL (no sync at commit).
 */
export function configureConnection(db: Database.Database, busyTimeoutMs: number): void {
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = FULL");
  db.pragma("foreign_keys = ON");
  db.pragma(`busy_timeout = ${Math.max(0, Math.trunc(busyTimeoutMs))}`);
}

/** The storage settings `db` runs with now. */
export function storageSettings(db: Database.Database): StorageSettings {
  const levels = ["off", "normal", "full", "extra"] as const;
  return {
    journalMode: String(db.pragma("journal_mode", { simple: true })),
    synchronous: levels[Number(db.pragma("synchronous", { simple: true }))] ?? "off",
  };
}
