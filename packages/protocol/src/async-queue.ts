/**
 * A push-style consumer of an {@link AsyncQueue}: `take` gets each item in order; when it returns a
 * promise, the next item waits until that promise settles. `end` is called once, after the last
 * item, when the queue has ended. Neither may throw.
 */
export interface QueueConsumer<T> {
  take(item: T): PromiseLike<unknown> | undefined | void;
  end(): void;
}

/**
 * An unbounded single-consumer queue, read either with an async iterator or by a push-style
 * {@link QueueConsumer} (no suspended reader per queue). Items pushed after end() are dropped.
 */
export class AsyncQueue<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private head = 0;
  private waiter: ((r: IteratorResult<T>) => void) | undefined;
  private ended = false;
  private iterated = false;
  private below: { length: number; resolve: () => void } | undefined;
  private consumer: QueueConsumer<T> | undefined;
  /** The consumer is running or waits for the promise of its last item. */
  private busy = false;

  /** `onTake` is called with each item as the consumer takes it (for byte accounting). */
  constructor(private readonly onTake?: (item: T) => void) {}

  /** Called with each item as the consumer takes it; by default calls `onTake`. */
  protected taken(item: T): void {
    this.onTake?.(item);
  }

  push(item: T): void {
    if (this.ended) return;
    if (this.consumer) {
      this.items.push(item);
      if (!this.busy) this.deliver();
      return;
    }
    const w = this.waiter;
    if (w) {
      this.waiter = undefined;
      this.taken(item);
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
    if (this.consumer && !this.busy) this.deliver();
  }

  /**
   * Hands every item, in order, to `consumer` instead of an iterator; items already queued are
   * handed over at once. Use it or the iterator, once.
   */
  consume(consumer: QueueConsumer<T>): void {
    if (this.iterated) throw new TypeError("this queue can be iterated only once");
    this.iterated = true;
    this.consumer = consumer;
    this.deliver();
  }

  /** Runs the consumer over what waits until it returns a promise; ends it once the queue is empty and ended. */
  private deliver(): void {
    const consumer = this.consumer!;
    this.busy = true;
    while (this.length > 0) {
      const pending = consumer.take(this.shift() as T);
      if (pending) {
        // A closure per wait, not per queue: an idle queue holds none.
        const resume = (): void => {
          if (this.consumer) this.deliver();
        };
        pending.then(resume, resume);
        return;
      }
    }
    this.busy = false;
    if (this.ended) {
      this.consumer = undefined;
      consumer.end();
    }
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
    // Compact so that a long-lived queue does not keep consumed items alive.
    if (this.head === this.items.length) {
      this.items.length = 0;
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items.splice(0, this.head);
      this.head = 0;
    }
    this.checkBelow();
    this.taken(item);
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
