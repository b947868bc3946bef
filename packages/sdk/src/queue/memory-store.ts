import type { QueueItem, QueueSnapshot, QueueStore } from "./types.js";

/** The default store: keeps the queue in memory only. Queued data is lost when the process exits. */
export class MemoryQueueStore implements QueueStore {
  private readonly items = new Map<number, QueueItem>();
  private lastSeq = 0;

  async load(): Promise<QueueSnapshot> {
    return { items: [...this.items.values()], lastSeq: this.lastSeq };
  }

  async append(items: readonly QueueItem[]): Promise<void> {
    for (const item of items) {
      this.items.set(item.seq, item);
      if (item.seq > this.lastSeq) this.lastSeq = item.seq;
    }
  }

  async remove(seqs: readonly number[]): Promise<void> {
    for (const seq of seqs) this.items.delete(seq);
  }
}
