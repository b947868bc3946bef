/**
 * Time source and timers used by the protocol state machines. Injectable so that tests can move
 * time by hand instead of sleeping.
 */
export interface Clock {
  /** Milliseconds, monotonic enough for expiry decisions. */
  now(): number;
  /** Schedules `fn` after `ms`. The timer must not keep the process alive. */
  setTimeout(fn: () => void, ms: number): unknown;
  /** Cancels a timer returned by {@link Clock.setTimeout}. */
  clearTimeout(handle: unknown): void;
}

/** The real clock: `Date.now()` and unref'd timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms) as unknown as { unref?: () => void };
    t.unref?.();
    return t;
  },
  clearTimeout(handle) {
    clearTimeout(handle as Parameters<typeof clearTimeout>[0]);
  },
};
