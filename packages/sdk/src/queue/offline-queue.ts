import { AbortError, ErrorCode, OutpostError } from "@outpost/protocol";
import { MemoryQueueStore } from "./memory-store.js";
import type { OverflowPolicy, QueueItem, QueueOverflowInfo, QueueStore } from "./types.js";

/** Options of the offline queue (the client's `queue` option). */
export interface QueueOptions {
  /** Capacity in items (properties and events together). Default 10_000. */
  maxItems?: number;
  /**
   * What happens when a new item arrives at a full queue. Default "drop-oldest".
   * - "drop-oldest": the oldest queued item is discarded to make room;
   * - "drop-newest": the new item is discarded;
   * - "reject": the new item is refused: `set()`/`emit()` throw OUTPOST_QUEUE_OVERFLOW.
   * Every drop or refusal is reported through the `queue-overflow` event.
   */
  overflow?: OverflowPolicy;
  /** Persistence. Default: in memory ({@link MemoryQueueStore}). */
  store?: QueueStore;
  /**
   * Most queued items held in memory; the rest wait in the store and are read in pages of up to
   * this many items and `memoryBytes`. Default 1_000.
   */
  memoryItems?: number;
  /** Most bytes (as the store measures them) one page read from the store may hold. Default 4 MiB. */
  memoryBytes?: number;
}

type NewItem = QueueItem extends infer T ? (T extends QueueItem ? Omit<T, "seq"> : never) : never;

/** Items a failed store append took with it: never sent, reported to the caller. */
export interface QueueFailure {
  error: Error;
  /** Items that were queued and are now dropped. */
  items: number;
}

const READ_RETRY_MS = 1_000;

/**
 * The bounded offline queue. Items get the next seq of the store's epoch when queued and leave
 * only when acknowledged, refused, dropped by the overflow policy or lost by a failed store
 * append (the last three are reported). An item is handed out for sending only once the store has
 * persisted it. The oldest items are held in memory (the "window"); when more are queued than
 * `memoryItems`, the newer ones wait in the store and are read back in pages.
 */
export class OfflineQueue {
  readonly maxItems: number;
  readonly policy: OverflowPolicy;
  private readonly store: QueueStore;
  private readonly memoryItems: number;
  private readonly memoryBytes: number;
  private epochValue = 0;
  private legacyBase = 0;
  /** Queued items in seq order from `head` on: the oldest queued ones. */
  private window: QueueItem[] = [];
  private head = 0;
  /** Highest seq the window has held; items above it that are queued are `outside`. */
  private windowEnd = 0;
  /** Whether the window holds every queued item (new items join it). */
  private memoryTail = true;
  /** Queued items above `windowEnd` that are only in the store. */
  private outsideStored = 0;
  /** Queued items above `windowEnd` whose append is still to come. */
  private outsidePending = 0;
  /** The oldest outside items were dropped by overflow before they were read: skip them on read. */
  private pendingDrops = 0;
  private beforeLoad: NewItem[] = [];
  /** Added items whose store append has not started yet: they are appended together. */
  private unpersisted: QueueItem[] = [];
  private readonly inFlight = new Set<number>();
  /** Property keys of queued items (window and store) with their counts. */
  private readonly keys = new Map<string, number>();
  private count = 0;
  private lastSeq = 0;
  private loadedSeq = 0;
  /** Whether a server's delivery record was compared with the store since open. */
  private checked = false;
  private persistedSeq = 0;
  private truncatedTo = 0;
  private truncating = false;
  private reading = false;
  private readRetry: ReturnType<typeof setTimeout> | undefined;
  private loading: Promise<void> | undefined;
  private loaded = false;
  private chain: Promise<void> = Promise.resolve();
  private changeWaiters: (() => void)[] = [];
  private drainWaiters: (() => void)[] = [];
  private totalDropped = 0;

  constructor(
    options: QueueOptions = {},
    private readonly onOverflow: (info: QueueOverflowInfo) => void = () => {},
    private readonly onStoreError: (err: Error) => void = () => {},
    private readonly onFailed: (failure: QueueFailure) => void = () => {},
  ) {
    this.maxItems = options.maxItems ?? 10_000;
    this.memoryItems = options.memoryItems ?? 1_000;
    this.memoryBytes = options.memoryBytes ?? 4 * 1024 * 1024;
    for (const [name, v] of [
      ["maxItems", this.maxItems],
      ["memoryItems", this.memoryItems],
      ["memoryBytes", this.memoryBytes],
    ] as const) {
      if (!Number.isSafeInteger(v) || v < 1) {
        throw new OutpostError(ErrorCode.InvalidConfig, `queue.${name} must be a positive integer`);
      }
    }
    this.policy = options.overflow ?? "drop-oldest";
    this.store = options.store ?? new MemoryQueueStore();
  }

  /** The store's queue epoch (0 until opened). */
  get epoch(): number {
    return this.epochValue;
  }

  /**
   * Added to seqs sent to a server without "delivery-epoch", which keeps one increasing seq per
   * device: the wall clock at open, in microseconds, as 1.0 devices numbered their items.
   */
  get legacySeqBase(): number {
    return this.legacyBase;
  }

  /**
   * Opens the store once and reads its backlog in pages: the first page stays in memory, the rest
   * is only counted. Items queued before are then numbered after the stored ones. An open that
   * fails is tried again on the next call (the next connect()): a storage device that was not yet
   * mounted must not leave the client unable to connect until the process restarts.
   */
  open(): Promise<void> {
    this.loading ??= this.load().catch((err: unknown) => {
      this.loading = undefined;
      throw err;
    });
    return this.loading;
  }

  private async load(): Promise<void> {
    const state = await this.store.open();
    if (
      !Number.isSafeInteger(state.epoch) ||
      state.epoch < 1 ||
      !Number.isSafeInteger(state.lastSeq) ||
      state.lastSeq < 0
    ) {
      throw new OutpostError(ErrorCode.InvalidConfig, "queue store returned an invalid epoch or lastSeq");
    }
    const limits = { maxItems: this.memoryItems, maxBytes: this.memoryBytes };
    const window: QueueItem[] = [];
    let outside = 0;
    let after = 0;
    for (;;) {
      const page = await this.store.read(after, limits);
      if (page.length === 0) break;
      for (const item of page) {
        if (item.seq <= after) throw new OutpostError(ErrorCode.Internal, "queue store read out of seq order");
        after = item.seq;
        if (window.length < this.memoryItems && outside === 0) window.push(item);
        else outside += 1;
        this.countKey(item, 1);
      }
    }
    this.epochValue = state.epoch;
    this.legacyBase = Date.now() * 1000;
    this.window = window;
    this.head = 0;
    this.windowEnd = window.length > 0 ? window[window.length - 1]!.seq : after;
    this.outsideStored = outside;
    this.memoryTail = outside === 0;
    this.count = window.length + outside;
    this.lastSeq = Math.max(state.lastSeq, after);
    this.loadedSeq = this.lastSeq;
    this.persistedSeq = this.lastSeq;
    this.loaded = true;
    const early = this.beforeLoad;
    this.beforeLoad = [];
    for (const item of early) this.add(item);
    this.notifyChange();
    this.checkDrained();
  }

  /** Items waiting or in flight. */
  get size(): number {
    return this.count + this.beforeLoad.length;
  }

  /**
   * Queues an item. Returns false when the "drop-newest" policy discarded it. Throws
   * OUTPOST_QUEUE_OVERFLOW when full under the "reject" policy.
   */
  enqueue(item: NewItem): boolean {
    if (this.size >= this.maxItems) {
      if (this.policy === "reject") {
        this.reportOverflow();
        throw new OutpostError(ErrorCode.QueueOverflow, `offline queue is full (${this.maxItems} items)`);
      }
      this.reportOverflow();
      if (this.policy === "drop-newest") return false;
      this.dropOldest();
    }
    if (!this.loaded) {
      this.beforeLoad.push(item);
      return true;
    }
    this.add(item);
    return true;
  }

  /**
   * Marks and returns the next items to send, oldest first, skipping items already in flight or
   * not yet persisted: a run of up to `max` property values, or one event, or with `eventRuns` (the
   * server accepts EventBatch) a run of up to `max` events. A batch never mixes the two kinds.
   */
  takeBatch(max: number, eventRuns = false): QueueItem[] {
    const out: QueueItem[] = [];
    const items = this.window;
    const skip = this.inFlight.size > 0;
    for (let i = this.head; i < items.length; i++) {
      const item = items[i]!;
      if (item.seq > this.persistedSeq) break;
      if (skip && this.inFlight.has(item.seq)) continue;
      if (out.length > 0 && item.kind !== out[0]!.kind) break;
      out.push(item);
      if (out.length >= max || (item.kind === "event" && !eventRuns)) break;
    }
    for (const item of out) this.inFlight.add(item.seq);
    this.refill();
    return out;
  }

  /** The receiver settled these items (applied or refused them): they leave the queue for good. */
  ack(seqs: readonly number[]): void {
    for (const s of seqs) this.inFlight.delete(s);
    this.removeFromWindow(seqs);
    this.afterSettle();
  }

  /**
   * At connect the server said it applied every seq in [from, to] of this epoch: those items leave
   * the queue without being sent again. At the first connect after open (nothing sent yet), a `to`
   * above every seq the store knew means the store is older than what the server saw (restored
   * from a copy): nothing is discarded, the seq counter moves past `to`, and items queued since
   * the open get new seqs so none can be mistaken for one the server already applied. Returns
   * whether the store was behind.
   */
  settleDelivered(from: number, to: number): boolean {
    if (!this.loaded) return false;
    const first = !this.checked;
    this.checked = true;
    if (to <= 0 || from > to) return false;
    if (first ? to > this.loadedSeq : to > this.lastSeq) {
      this.renumberAbove(first ? this.loadedSeq : this.lastSeq, to);
      return true;
    }
    const seqs: number[] = [];
    for (let i = this.head; i < this.window.length; i++) {
      const s = this.window[i]!.seq;
      if (s > to) break;
      if (s >= from && !this.inFlight.has(s)) seqs.push(s);
    }
    if (seqs.length > 0) this.ack(seqs);
    return false;
  }

  /** Sending failed (no ack): the items become eligible again, with the same seqs. */
  release(seqs: readonly number[]): void {
    for (const s of seqs) this.inFlight.delete(s);
    this.notifyChange();
  }

  /** Releases everything in flight (the connection was lost). */
  releaseAll(): void {
    this.release([...this.inFlight]);
  }

  /** Keys `thing\u0000name` of property values still queued (in memory or in the store). */
  queuedPropertyKeys(): Set<string> {
    const keys = new Set(this.keys.keys());
    for (const i of this.beforeLoad) if (i.kind === "property") keys.add(`${i.thing}\u0000${i.name}`);
    return keys;
  }

  /** Resolves at the next change that may make a batch available (new item persisted, release, page read). */
  changed(): Promise<void> {
    return new Promise((resolve) => this.changeWaiters.push(resolve));
  }

  /** Resolves when the queue is empty and the store has caught up; rejects with OUTPOST_ABORTED through `signal`. */
  async drained(signal?: AbortSignal): Promise<void> {
    while (this.size > 0) await this.nextDrain(signal);
    await this.chain;
  }

  private nextDrain(signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(new AbortError("flush aborted", { cause: signal.reason }));
        return;
      }
      // An aborted wait must leave no waiter behind: flush() may be retried for as long as the device is offline.
      const onAbort = (): void => {
        this.drainWaiters = this.drainWaiters.filter((w) => w !== waiter);
        reject(new AbortError("flush aborted", { cause: signal?.reason }));
      };
      const waiter = (): void => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      };
      this.drainWaiters.push(waiter);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** Waits for an open in progress and pending store writes, then closes the store. */
  async close(): Promise<void> {
    if (this.readRetry) clearTimeout(this.readRetry);
    // Items queued before the open finished are appended right after it: let that happen first.
    await this.loading?.catch(() => {});
    await this.chain;
    await this.store.close?.();
  }

  private add(item: NewItem): void {
    const full = withSeq(item, ++this.lastSeq);
    this.count += 1;
    this.countKey(full, 1);
    if (this.memoryTail && this.window.length - this.head >= this.memoryItems) this.memoryTail = false;
    if (this.memoryTail) {
      this.window.push(full);
      this.windowEnd = full.seq;
    } else {
      this.outsidePending += 1;
    }
    if (this.unpersisted.push(full) === 1) this.persist(() => this.appendUnpersisted());
  }

  private async appendUnpersisted(): Promise<void> {
    const items = this.unpersisted;
    this.unpersisted = [];
    const outside = items.filter((i) => i.seq > this.windowEnd).length;
    try {
      await this.store.append(items);
    } catch (err) {
      this.failAppend(items, outside, err instanceof Error ? err : new Error(String(err)));
      return;
    }
    this.persistedSeq = Math.max(this.persistedSeq, items[items.length - 1]!.seq);
    this.outsidePending -= outside;
    this.outsideStored += outside;
    this.notifyChange();
    this.refill();
    this.scheduleTruncate();
  }

  /** The items of a failed append leave the queue unsent; the caller hears how many. */
  private failAppend(items: QueueItem[], outside: number, error: Error): void {
    this.outsidePending -= outside;
    const beyond = items.filter((i) => i.seq > this.windowEnd);
    for (const item of beyond) this.countKey(item, -1);
    this.count -= beyond.length;
    const before = this.count;
    this.removeFromWindow(items.filter((i) => i.seq <= this.windowEnd).map((i) => i.seq));
    // Later items may be sent: the failed ones are gone, not waiting.
    this.persistedSeq = Math.max(this.persistedSeq, items[items.length - 1]!.seq);
    this.onFailed({ error, items: beyond.length + before - this.count });
    this.notifyChange();
    this.afterSettle();
  }

  /** Removes queued window items by seq (the usual case: exactly the oldest, in order). */
  private removeFromWindow(seqs: readonly number[]): void {
    const items = this.window;
    const head = this.head;
    let front = seqs.length <= items.length - head;
    for (let k = 0; front && k < seqs.length; k++) if (items[head + k]!.seq !== seqs[k]) front = false;
    let removed: QueueItem[];
    if (front) {
      removed = items.slice(head, head + seqs.length);
      this.head = head + seqs.length;
      this.compact();
    } else {
      const gone = new Set(seqs);
      removed = [];
      const kept: QueueItem[] = [];
      for (let i = head; i < items.length; i++) (gone.has(items[i]!.seq) ? removed : kept).push(items[i]!);
      this.window = kept;
      this.head = 0;
    }
    for (const item of removed) this.countKey(item, -1);
    this.count -= removed.length;
  }

  private afterSettle(): void {
    this.refill();
    this.scheduleTruncate();
    this.checkDrained();
  }

  /** Reads the next page of the backlog when the window runs low. */
  private refill(): void {
    if (this.reading || this.outsideStored === 0 || this.readRetry) return;
    if (this.window.length - this.head > this.memoryItems / 2) return;
    this.reading = true;
    const after = this.windowEnd;
    const maxItems = Math.max(1, this.memoryItems - (this.window.length - this.head));
    this.persist(async () => {
      try {
        const page = await this.store.read(after, { maxItems, maxBytes: this.memoryBytes });
        this.takePage(after, page);
      } catch (err) {
        this.onStoreError(err instanceof Error ? err : new Error(String(err)));
        this.readRetry = setTimeout(() => {
          this.readRetry = undefined;
          this.refill();
        }, READ_RETRY_MS);
        this.readRetry.unref?.();
      } finally {
        this.reading = false;
      }
    });
  }

  private takePage(after: number, page: QueueItem[]): void {
    if (after !== this.windowEnd) return;
    if (page.length === 0) {
      // The store holds fewer items than it accepted: they cannot be sent; report, do not wait for them.
      const lost = this.outsideStored - this.pendingDrops;
      this.count -= lost;
      this.outsideStored = 0;
      this.pendingDrops = 0;
      this.onFailed({ error: new OutpostError(ErrorCode.Internal, "queue store lost queued items"), items: lost });
    }
    for (const item of page) {
      this.outsideStored -= 1;
      this.windowEnd = item.seq;
      if (this.pendingDrops > 0) {
        this.pendingDrops -= 1;
        this.countKey(item, -1);
        continue;
      }
      this.window.push(item);
    }
    if (this.outsideStored <= 0 && this.outsidePending === 0) {
      this.outsideStored = 0;
      this.memoryTail = true;
    }
    this.notifyChange();
    this.afterSettle();
  }

  /** Cuts the settled prefix from the store: everything below the oldest queued item. */
  private scheduleTruncate(): void {
    if (this.truncating) return;
    this.truncating = true;
    this.persist(async () => {
      this.truncating = false;
      const oldest = this.head < this.window.length ? this.window[this.head]!.seq - 1 : this.windowEnd;
      const upto = Math.min(oldest, this.persistedSeq);
      if (upto <= this.truncatedTo) return;
      await this.store.truncate(upto);
      this.truncatedTo = upto;
    });
  }

  /** The store was behind the server: items numbered since the open get seqs above `to`. */
  private renumberAbove(loaded: number, to: number): void {
    const moved: QueueItem[] = [];
    const kept: QueueItem[] = [];
    for (let i = this.head; i < this.window.length; i++) {
      const item = this.window[i]!;
      (item.seq > loaded && !this.inFlight.has(item.seq) ? moved : kept).push(item);
    }
    const base = Math.max(this.lastSeq, to);
    this.loadedSeq = base;
    this.lastSeq = base;
    if (moved.length === 0) return;
    this.window = kept;
    this.head = 0;
    this.count -= moved.length;
    for (const item of moved) {
      this.countKey(item, -1);
      const { seq: _old, ...rest } = item;
      this.add(rest as NewItem);
    }
  }

  private compact(): void {
    if (this.head === this.window.length) {
      this.window = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.window.length) {
      this.window = this.window.slice(this.head);
      this.head = 0;
    }
  }

  private dropOldest(): void {
    if (!this.loaded) {
      this.beforeLoad.shift();
      return;
    }
    const dropped = this.window[this.head];
    if (dropped) {
      this.inFlight.delete(dropped.seq);
      this.removeFromWindow([dropped.seq]);
      this.afterSettle();
    } else if (this.outsideStored + this.outsidePending > this.pendingDrops) {
      this.pendingDrops += 1;
      this.count -= 1;
    }
  }

  private countKey(item: QueueItem, delta: number): void {
    if (item.kind !== "property") return;
    const key = `${item.thing}\u0000${item.name}`;
    const n = (this.keys.get(key) ?? 0) + delta;
    if (n > 0) this.keys.set(key, n);
    else this.keys.delete(key);
  }

  private reportOverflow(): void {
    this.totalDropped += 1;
    this.onOverflow({ policy: this.policy, dropped: 1, totalDropped: this.totalDropped, maxItems: this.maxItems });
  }

  private persist(op: () => Promise<void>): void {
    this.chain = this.chain.then(op).catch((err: unknown) => {
      this.onStoreError(err instanceof Error ? err : new Error(String(err)));
    });
  }

  private notifyChange(): void {
    const waiters = this.changeWaiters;
    this.changeWaiters = [];
    for (const w of waiters) w();
  }

  private checkDrained(): void {
    if (this.size > 0) return;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
  }
}

function withSeq(item: NewItem, seq: number): QueueItem {
  return item.kind === "property"
    ? {
        kind: "property",
        seq,
        thing: item.thing,
        name: item.name,
        value: item.value,
        timestampMs: item.timestampMs,
        quality: item.quality,
      }
    : { kind: "event", seq, thing: item.thing, name: item.name, data: item.data, timestampMs: item.timestampMs };
}
