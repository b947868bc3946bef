import type { QueueItem, QueueReadLimits, QueueState, QueueStore } from "@outpost/sdk";

/**
 * Wraps the queue store so the local API can answer 2xx only once a value is on disk. The SDK's
 * queue numbers an item synchronously in `set()`/`emit()` and hands every item not yet persisted
 * to the next `append` it starts (appends run one at a time), so the first append that starts
 * after a `set()` returned carries that item. {@link DurableBarrier.afterNextAppend} resolves when
 * that append resolves and rejects with its error.
 */
export class DurableBarrier implements QueueStore {
  private started = 0;
  private waiters: Array<{ target: number; resolve(): void; reject(err: unknown): void }> = [];

  constructor(private readonly inner: QueueStore) {}

  open(): Promise<QueueState> {
    return this.inner.open();
  }

  async append(items: readonly QueueItem[]): Promise<void> {
    const index = ++this.started;
    try {
      await this.inner.append(items);
    } catch (err) {
      this.settle(index, err);
      throw err;
    }
    this.settle(index, undefined);
  }

  read(afterSeq: number, limits: QueueReadLimits): Promise<QueueItem[]> {
    return this.inner.read(afterSeq, limits);
  }

  truncate(uptoSeq: number): Promise<void> {
    return this.inner.truncate(uptoSeq);
  }

  async close(): Promise<void> {
    await this.inner.close?.();
  }

  /** Resolves when the first append that starts from now on has persisted (rejects when it failed). */
  afterNextAppend(): Promise<void> {
    return new Promise((resolve, reject) => this.waiters.push({ target: this.started + 1, resolve, reject }));
  }

  /** Rejects every waiter (the daemon is stopping). */
  abort(err: Error): void {
    const w = this.waiters;
    this.waiters = [];
    for (const x of w) x.reject(err);
  }

  private settle(index: number, err: unknown): void {
    const keep: typeof this.waiters = [];
    for (const w of this.waiters) {
      if (w.target > index) keep.push(w);
      else if (err === undefined) w.resolve();
      else w.reject(err);
    }
    this.waiters = keep;
  }
}
