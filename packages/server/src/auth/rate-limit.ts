import { ErrorCode, OutpostError } from "@outpost/protocol";

/**
 * Counts authentication failures per key (a source address, a key id, an operator token id) and
 * blocks a key that fails too often, so secrets cannot be guessed online and one noisy peer cannot
 * keep the registry busy. Memory is bounded: at most `maxEntries` keys are tracked and the least
 * recently failed one is forgotten first. Use one limiter per kind of key, so that a flood of
 * made-up key ids cannot push a blocked source address out of the table.
 */
export interface FailureLimiterOptions {
  /** Failures allowed inside one window before the key is blocked. Default 5. */
  maxFailures?: number;
  /** Length of the counting window in milliseconds. Default 60_000. */
  windowMs?: number;
  /** How long a key stays blocked once it reached `maxFailures`, in milliseconds. Default 60_000. */
  blockMs?: number;
  /** Most keys tracked at once; the least recently failed is evicted beyond it. Default 10_000. */
  maxEntries?: number;
}

interface Bucket {
  windowStart: number;
  failures: number;
  blockedUntil: number;
}

/** Per-key failure counter with temporary blocking. Times are milliseconds since epoch. */
export class FailureLimiter {
  readonly maxFailures: number;
  readonly windowMs: number;
  readonly blockMs: number;
  readonly maxEntries: number;
  // Map iteration order is insertion order; a key is re-inserted on every failure, so the first
  // entry is always the least recently failed one.
  readonly #buckets = new Map<string, Bucket>();

  constructor(options: FailureLimiterOptions = {}) {
    this.maxFailures = positiveInt("maxFailures", options.maxFailures ?? 5);
    this.windowMs = positiveInt("windowMs", options.windowMs ?? 60_000);
    this.blockMs = positiveInt("blockMs", options.blockMs ?? 60_000);
    this.maxEntries = positiveInt("maxEntries", options.maxEntries ?? 10_000);
  }

  /** Number of keys currently tracked. */
  get size(): number {
    return this.#buckets.size;
  }

  /** Whether `key` is blocked at `now`. */
  isBlocked(key: string, now: number = Date.now()): boolean {
    return this.retryAfterMs(key, now) > 0;
  }

  /** Milliseconds until `key` is no longer blocked; 0 when it is not blocked. */
  retryAfterMs(key: string, now: number = Date.now()): number {
    const b = this.#buckets.get(key);
    if (!b) return 0;
    return Math.max(0, b.blockedUntil - now);
  }

  /** Counts one failure for `key`. Returns true when the key is blocked after it. */
  recordFailure(key: string, now: number = Date.now()): boolean {
    let b = this.#buckets.get(key);
    if (b) {
      this.#buckets.delete(key);
    } else {
      this.#makeRoom();
      b = { windowStart: now, failures: 0, blockedUntil: 0 };
    }
    if (now - b.windowStart >= this.windowMs && b.blockedUntil <= now) {
      b.windowStart = now;
      b.failures = 0;
    }
    b.failures += 1;
    if (b.failures >= this.maxFailures) {
      b.blockedUntil = Math.max(b.blockedUntil, now + this.blockMs);
    }
    this.#buckets.set(key, b);
    return b.blockedUntil > now;
  }

  /** Forgets the failures of `key` (call after a successful authentication). */
  recordSuccess(key: string): void {
    this.#buckets.delete(key);
  }

  /** Forgets every key. */
  clear(): void {
    this.#buckets.clear();
  }

  #makeRoom(): void {
    // Only the oldest entry is looked at, so a flood of new keys costs O(1) per failure.
    while (this.#buckets.size >= this.maxEntries) {
      const oldest = this.#buckets.keys().next();
      if (oldest.done) break;
      this.#buckets.delete(oldest.value);
    }
  }
}

function positiveInt(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new OutpostError(
      ErrorCode.InvalidConfig,
      `FailureLimiter option ${name} must be a positive integer, got ${String(value)}`,
    );
  }
  return value;
}
