import type pino from "pino";
import type { RevocationEntry, RevocationFeed } from "../registry/revocation-log.js";

/** What the watch needs of a live session. */
export interface WatchedSession {
  readonly deviceId: string;
  readonly keyId: string;
  /** When the session's application key expires (ms since epoch), or null. */
  readonly keyExpiresAt: number | null;
  /** Re-reads the session's key, device and certificate; closes it when one no longer holds. */
  revalidate(now?: number): Promise<boolean>;
}

/** Options of {@link startRevocationWatch}. */
export interface RevocationWatchOptions {
  /** The registry's revocation feed (`registry.revocations`); without it every session is re-read each interval. */
  source?: RevocationFeed;
  /** The live sessions, authenticated or not (only authenticated ones are checked). */
  sessions: () => Iterable<WatchedSession>;
  /** Bound on how long a change made by another process takes to end a session. */
  intervalMs: number;
  logger: pino.Logger;
}

/** Entries older than this are deleted when the watch starts. */
const KEEP_ENTRIES_MS = 7 * 86_400_000;

/**
 * Ends sessions whose application key was revoked, removed or has expired, whose device was
 * disabled or removed, or whose certificates were revoked. One timer for the whole server instead
 * of reading every session's key and device each interval: a change made through this server's
 * registry is pushed at once; a change made by another process (the CLI) is noticed by one
 * `PRAGMA data_version` per interval, and only the sessions the new log entries name are re-read.
 * Key expiry is compared in memory. Without a log the watch falls back to
 * re-reading every session each interval. Returns the stop function.
 */
export function startRevocationWatch(o: RevocationWatchOptions): () => void {
  const source = o.source;
  const revalidate = (session: WatchedSession, now: number): void => {
    session.revalidate(now).catch((err: unknown) => o.logger.error({ err }, "session revalidation failed"));
  };
  if (!source) {
    const poll = setInterval(() => {
      const now = Date.now();
      for (const session of o.sessions()) revalidate(session, now);
    }, o.intervalMs);
    poll.unref();
    return () => clearInterval(poll);
  }

  let cursor: number | undefined;
  const start = async (): Promise<void> => {
    try {
      await source.prune(Date.now() - KEEP_ENTRIES_MS);
    } catch (err) {
      o.logger.warn({ err }, "old revocation log entries could not be deleted");
    }
    cursor = await source.cursor();
  };
  const apply = (entries: RevocationEntry[], now: number): void => {
    const keys = new Set<string>();
    const devices = new Set<string>();
    for (const e of entries) (e.kind === "key" ? keys : devices).add(e.subject);
    for (const session of o.sessions()) {
      if (session.deviceId !== "" && (keys.has(session.keyId) || devices.has(session.deviceId))) {
        revalidate(session, now);
      }
    }
  };
  // After a failed read the change it saw is not signalled again: the next check reads anyway.
  let unread = false;
  const read = async (from: number, force: boolean): Promise<void> => {
    if (!(await source.mayHaveChanged()) && !force && !unread) return;
    unread = true;
    let at = from;
    for (;;) {
      const entries = await source.since(at);
      if (entries.length === 0) break;
      at = entries[entries.length - 1]!.seq;
      cursor = at;
      apply(entries, Date.now());
    }
    unread = false;
  };
  // One check at a time: a check asked for while one runs is made once after it, so two never
  // read from the same cursor and none is lost.
  let running = false;
  let again: boolean | undefined;
  const check = (force: boolean): void => {
    if (stopped) return;
    if (running) {
      again = (again ?? false) || force;
      return;
    }
    running = true;
    const work = cursor === undefined ? start() : read(cursor, force);
    work
      .catch((err: unknown) => {
        // The cursor stays at the last entry applied: the rest is read again at the next check.
        o.logger.error({ err }, "the revocation log could not be read");
      })
      .finally(() => {
        running = false;
        const next = again;
        again = undefined;
        if (next !== undefined) check(next);
      });
  };
  const expire = (now: number): void => {
    for (const session of o.sessions()) {
      if (session.keyExpiresAt !== null && session.keyExpiresAt <= now) revalidate(session, now);
    }
  };
  let stopped = false;
  check(false);
  let pushed = false;
  const unsubscribe = source.subscribe(() => {
    if (pushed) return;
    pushed = true;
    // After the writer's statement (or transaction) has finished, not inside it.
    queueMicrotask(() => {
      pushed = false;
      check(true);
    });
  });
  const timer = setInterval(() => {
    check(false);
    expire(Date.now());
  }, o.intervalMs);
  timer.unref();
  return () => {
    stopped = true;
    clearInterval(timer);
    unsubscribe();
  };
}
