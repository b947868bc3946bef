import { newQueueEpoch, queueItemBytes } from "./epoch.js";
import type { QueueItem, QueueReadLimits, QueueState, QueueStore } from "./types.js";

/**
 * The default store: keeps the queue in memory only. Queued data is lost when the process exits,
 * and every instance is a new epoch (so a restarted device starts at seq 1 of a new epoch).
 */
export class MemoryQueueStore implements QueueStore {
  readonly epoch = newQueueEpoch();
  /** Items in seq order from `head` on. */
  private items: QueueItem[] = [];
  private head = 0;
  private lastSeq = 0;

  async open(): Promise<QueueState> {
    return { epoch: this.epoch, lastSeq: this.lastSeq };
  }

  async append(items: readonly QueueItem[]): Promise<void> {
    for (const item of items) {
      if (item.seq <= this.lastSeq) throw new RangeError(`append of seq ${item.seq} after ${this.lastSeq}`);
      this.items.push(item);
      this.lastSeq = item.seq;
    }
  }

  async read(afterSeq: number, limits: QueueReadLimits): Promise<QueueItem[]> {
    const out: QueueItem[] = [];
    let bytes = 0;
    let i = this.firstAfter(afterSeq);
    for (; i < this.items.length && out.length < limits.maxItems; i++) {
      const item = this.items[i]!;
      bytes += queueItemBytes(item);
      if (out.length > 0 && bytes > limits.maxBytes) break;
      out.push(item);
    }
    return out;
  }

  async truncate(uptoSeq: number): Promise<void> {
    this.head = this.firstAfter(uptoSeq);
    if (this.head === this.items.length || (this.head >= 1024 && this.head * 2 >= this.items.length)) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }

  /** Index of the first item with seq > `seq` (binary search from `head`). */
  private firstAfter(seq: number): number {
    let lo = this.head;
    let hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.items[mid]!.seq <= seq) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
