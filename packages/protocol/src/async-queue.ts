/** An unbounded single-consumer queue with an async iterator. Items pushed after end() are dropped. */
export class AsyncQueue<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private head = 0;
  private waiter: ((r: IteratorResult<T>) => void) | undefined;
  private ended = false;
  private iterated = false;
  private below: { length: number; resolve: () => void } | undefined;

  /** `onTake` is called with each item as the consumer takes it (for byte accounting). */
  constructor(private readonly onTake?: (item: T) => void) {}

  push(item: T): void {
    if (this.ended) return;
    const w = this.waiter;
    if (w) {
      this.waiter = undefined;
      this.onTake?.(item);
      w({ value: item, done: false });
    } else {
      this.items.push(item);
    }
  }

  /** Ends the queue: items already queued are still delivered, then iteration finishes. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    const w = this.waiter;
    this.waiter = undefined;
    w?.({ value: undefined, done: true });
    this.checkBelow();
  }

  get length(): number {
    return this.items.length - this.head;
  }

  /** Resolves once fewer than `length` items wait (or the queue has ended), for producer backpressure. One waiter at a time. */
  whenBelow(length: number): Promise<void> {
    if (this.length < length || this.ended) return Promise.resolve();
    return new Promise((resolve) => {
      this.below = { length, resolve };
    });
  }

  private checkBelow(): void {
    const b = this.below;
    if (b && (this.length < b.length || this.ended)) {
      this.below = undefined;
      b.resolve();
    }
  }

  private shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head] as T;
    this.head++;
    // Compact now and then so a long-lived queue does not keep consumed items alive.
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items.splice(0, this.head);
      this.head = 0;
    }
    this.checkBelow();
    this.onTake?.(item);
    return item;
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    if (this.iterated) throw new TypeError("this queue can be iterated only once");
    this.iterated = true;
    return {
      next: () => {
        if (this.length > 0) return Promise.resolve({ value: this.shift() as T, done: false });
        if (this.ended) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => {
          this.waiter = resolve;
        });
      },
      return: () => {
        this.end();
        this.items.length = 0;
        this.head = 0;
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}
