import { readFileSync } from "node:fs";

/** File descriptors kept free for the registry, the audit log, file transfers and the operator API. */
export const FD_RESERVE = 256;

/**
 * This process's soft limit of open files (RLIMIT_NOFILE), from /proc/self/limits; undefined
 * where that cannot be read (not Linux) or there is no limit.
 */
export function openFileLimit(
  read: () => string = () => readFileSync("/proc/self/limits", "utf8"),
): number | undefined {
  try {
    const line = read()
      .split("\n")
      .find((l) => l.startsWith("Max open files"));
    const soft = Number(line?.trim().split(/\s+/)[3]);
    return Number.isSafeInteger(soft) && soft > 0 ? soft : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Default cap on open device connections: the open-file limit less {@link FD_RESERVE}, so that a
 * full fleet makes the server refuse new connections (and say so) instead of failing to accept,
 * open files or write its audit log. Unlimited where the limit is unknown.
 */
export function defaultMaxConnections(limit: number | undefined): number {
  if (limit === undefined) return Number.POSITIVE_INFINITY;
  return Math.max(16, limit - FD_RESERVE);
}
