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
   * Lowest seq for the next item: seqs continue from max(store's lastSeq, seqFloor()). The default,
   * Date.now() * 1000, keeps seqs increasing across restarts even with the in-memory store, as
   * long as fewer than 1000 items per millisecond are queued on average.
   */
  seqFloor?: () => number;
}

type NewItem = QueueItem extends infer T ? (T extends QueueItem ? Omit<T, "seq"> : never) : never;

/**
 * The bounded offline queue. Items get a monotonic seq when queued and leave only when
 * acknowledged (or dropped by the overflow policy). Items are handed out for sending only once the
 * store has persisted them.
 */
export class OfflineQueue {
  readonly maxItems: number;
  readonly policy: OverflowPolicy;
  private readonly store: QueueStore;
  private readonly seqFloor: () => number;
  /** Queued items in seq order from `head` on; acknowledged items leave from the front. */
  private items: QueueItem[] = [];
  private head = 0;
  private beforeLoad: NewItem[] = [];
  /** Added items whose store append has not started yet: they are appended together. */
  private unpersisted: QueueItem[] = [];
  private readonly inFlight = new Set<number>();
  private lastSeq = 0;
  private persistedSeq = 0;
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
  ) {
    this.maxItems = options.maxItems ?? 10_000;
    if (!Number.isSafeInteger(this.maxItems) || this.maxItems < 1) {
      throw new OutpostError(ErrorCode.InvalidConfig, "queue.maxItems must be a positive integer");
    }
    this.policy = options.overflow ?? "drop-oldest";
    this.store = options.store ?? new MemoryQueueStore();
    this.seqFloor = options.seqFloor ?? (() => Date.now() * 1000);
  }

  /**
   * Loads the store once. Items queued before are then numbered after the stored ones. A load that
   * fails is tried again on the next call (the next connect()): a storage device that was not yet
   * mounted must not leave the client unable to connect until the process restarts.
   */
  open(): Promise<void> {
    this.loading ??= (async () => {
      const snapshot = await this.store.load();
      this.items = [...snapshot.items].sort((a, b) => a.seq - b.seq);
      this.head = 0;
      const maxStored = this.items.reduce((m, i) => Math.max(m, i.seq), 0);
      this.persistedSeq = Math.max(snapshot.lastSeq, maxStored);
      this.lastSeq = Math.max(this.persistedSeq, this.seqFloor());
      this.loaded = true;
      const early = this.beforeLoad;
      this.beforeLoad = [];
      for (const item of early) this.add(item);
      this.notifyChange();
      this.checkDrained();
    })().catch((err: unknown) => {
      this.loading = undefined;
      throw err;
    });
    return this.loading;
  }

  /** Items waiting or in flight. */
  get size(): number {
    return this.items.length - this.head + this.beforeLoad.length;
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
    const items = this.items;
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
    return out;
  }

  /** The receiver has these items: they leave the queue for good. */
  ack(seqs: readonly number[]): void {
    for (const s of seqs) this.inFlight.delete(s);
    if (!this.removeFront(seqs)) {
      const gone = new Set(seqs);
      this.items = this.items.slice(this.head).filter((i) => !gone.has(i.seq));
      this.head = 0;
    }
    this.persist(() => this.store.remove(seqs));
    this.checkDrained();
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

  /** Keys `thing\u0000name` of property values still queued. */
  queuedPropertyKeys(): Set<string> {
    const keys = new Set<string>();
    for (let k = this.head; k < this.items.length; k++) {
      const i = this.items[k]!;
      if (i.kind === "property") keys.add(`${i.thing}\u0000${i.name}`);
    }
    for (const i of this.beforeLoad) if (i.kind === "property") keys.add(`${i.thing}\u0000${i.name}`);
    return keys;
  }

  /** Resolves at the next change that may make a batch available (new item persisted, release). */
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

  /** Waits for pending store writes, then closes the store. */
  async close(): Promise<void> {
    await this.chain;
    await this.store.close?.();
  }

  private add(item: NewItem): void {
    const full = withSeq(item, ++this.lastSeq);
    this.items.push(full);
    if (this.unpersisted.push(full) === 1) this.persist(() => this.appendUnpersisted());
  }

  private async appendUnpersisted(): Promise<void> {
    const items = this.unpersisted;
    this.unpersisted = [];
    await this.store.append(items);
    this.persistedSeq = Math.max(this.persistedSeq, items[items.length - 1]!.seq);
    this.notifyChange();
  }

  /** Removes `seqs` when they are exactly the oldest items, in order (the usual acknowledgement). */
  private removeFront(seqs: readonly number[]): boolean {
    const items = this.items;
    const head = this.head;
    if (seqs.length > items.length - head) return false;
    for (let k = 0; k < seqs.length; k++) if (items[head + k]!.seq !== seqs[k]) return false;
    this.head = head + seqs.length;
    this.compact();
    return true;
  }

  private compact(): void {
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }

  private dropOldest(): void {
    if (!this.loaded) {
      this.beforeLoad.shift();
      return;
    }
    const dropped = this.items[this.head];
    if (!dropped) return;
    this.head += 1;
    this.compact();
    this.inFlight.delete(dropped.seq);
    this.persist(() => this.store.remove([dropped.seq]));
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
