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

/**
 * Longest delay a Node.js timer keeps (2^31-1 ms, about 24.8 days). A longer one fires after 1 ms
 * instead, so every delay that comes from the wire or from options must be capped with it.
 */
export const MAX_TIMER_MS = 2_147_483_647;

/** The real clock: `Date.now()` and unref'd timers; delays are capped at {@link MAX_TIMER_MS}. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, Math.min(ms, MAX_TIMER_MS)) as unknown as { unref?: () => void };
    t.unref?.();
    return t;
  },
  clearTimeout(handle) {
    clearTimeout(handle as Parameters<typeof clearTimeout>[0]);
  },
};
