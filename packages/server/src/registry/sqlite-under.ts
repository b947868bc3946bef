import { AsyncSqliteRegistry } from "./async-sqlite.js";
import type { AsyncRegistry } from "./async-types.js";
import type { SqliteRegistry } from "./sqlite.js";

/**
 * The embedded SQLite registry under its asynchronous view, for the few readers that must answer
 * synchronously from its caches (the TLS handshake gate's certificate status, the operator event
 * stream's per-change filter) or follow its revocation log; undefined for any other registry.
 */
export function sqliteUnder(registry: AsyncRegistry): SqliteRegistry | undefined {
  return registry instanceof AsyncSqliteRegistry ? registry.sync : undefined;
}
