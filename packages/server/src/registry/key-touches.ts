/**
 * When application keys were last used, written behind: a login records the time in memory and
 * one transaction writes every time recorded within `delayMs`. A login then never waits for a
 * synced commit of its own (several milliseconds of a blocked event loop each, which capped how
 * fast a fleet could log in after a server restart). The times are informational: a crash loses
 * at most the last `delayMs` of them, and another process reads them that much late. A failed
 * write keeps the times for the next one.
 */
export class KeyTouches {
  readonly #pending = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly write: (times: ReadonlyMap<string, number>) => void,
    private readonly delayMs = 1_000,
  ) {}

  /** Records that `keyId` was used at `at`. */
  touch(keyId: string, at: number): void {
    this.#pending.set(keyId, at);
    this.#timer ??= setTimeout(() => this.flush(), this.delayMs).unref();
  }

  /** The last-used time of `keyId`: the one not yet written, else `stored`. */
  lastUsed(keyId: string, stored: number | null): number | null {
    return this.#pending.get(keyId) ?? stored;
  }

  /** Writes every recorded time now. */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#pending.size === 0) return;
    const times = new Map(this.#pending);
    this.#pending.clear();
    try {
      this.write(times);
    } catch {
      for (const [keyId, at] of times) if (!this.#pending.has(keyId)) this.#pending.set(keyId, at);
      this.#timer ??= setTimeout(() => this.flush(), this.delayMs).unref();
    }
  }
}
