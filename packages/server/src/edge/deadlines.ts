/**
 * Deadlines of one duration shared by many connections, with one timer for all of them instead of
 * a timer per connection. Members are kept in the order they were added: with one duration and a
 * monotonic clock that is the order in which they fall due, so only the earliest is ever scheduled.
 */
export class DeadlineQueue<T> {
  /** Member → when it is due (performance.now() ms), oldest first. */
  private readonly due = new Map<T, number>();
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Number.POSITIVE_INFINITY;

  /** `onDue` is called once for each member whose deadline has passed, after it left the queue. */
  constructor(
    readonly durationMs: number,
    private readonly onDue: (member: T) => void,
  ) {}

  /** Members waiting. */
  get size(): number {
    return this.due.size;
  }

  /** Puts `member` at the end of the queue, due `durationMs` from now (a member already queued moves). */
  add(member: T, now = performance.now()): void {
    this.due.delete(member);
    const at = now + this.durationMs;
    this.due.set(member, at);
    if (at < this.timerAt) this.arm(at);
  }

  /** Takes `member` out of the queue; its deadline will not fire. */
  delete(member: T): void {
    if (!this.due.delete(member) || this.due.size > 0) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
  }

  private arm(at: number): void {
    clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => this.fire(), Math.max(0, Math.ceil(at - performance.now())));
    this.timer.unref();
  }

  private fire(): void {
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
    const now = performance.now();
    try {
      for (const [member, at] of this.due) {
        if (at > now) break;
        this.due.delete(member);
        this.onDue(member);
      }
    } finally {
      // What onDue added again sits at the end of the map, so the first entry is the next due.
      const next = this.due.values().next();
      if (!next.done && next.value < this.timerAt) this.arm(next.value);
    }
  }
}

/** One queue per duration, so that connections of edges configured differently never wait on each other. */
export class DeadlineQueues<T> {
  private readonly queues = new Map<number, DeadlineQueue<T>>();

  constructor(private readonly onDue: (member: T) => void) {}

  /** The queue of deadlines `durationMs` after they are added. */
  of(durationMs: number): DeadlineQueue<T> {
    let queue = this.queues.get(durationMs);
    if (!queue) {
      queue = new DeadlineQueue(durationMs, this.onDue);
      this.queues.set(durationMs, queue);
    }
    return queue;
  }
}
