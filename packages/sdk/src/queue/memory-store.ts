import type { QueueItem, QueueSnapshot, QueueStore } from "./types.js";

/** The default store: keeps the queue in memory only. Queued data is lost when the process exits. */
export class MemoryQueueStore implements QueueStore {
  /** Items in seq order from `head` on (the queue appends ascending seqs and removes the oldest). */
  private items: QueueItem[] = [];
  private head = 0;
  private lastSeq = 0;

  async load(): Promise<QueueSnapshot> {
    return { items: this.items.slice(this.head), lastSeq: this.lastSeq };
  }

  async append(items: readonly QueueItem[]): Promise<void> {
    for (const item of items) {
      const last = this.items[this.items.length - 1];
      if (this.items.length === this.head || item.seq > last!.seq) this.items.push(item);
      else this.insert(item);
      if (item.seq > this.lastSeq) this.lastSeq = item.seq;
    }
  }

  async remove(seqs: readonly number[]): Promise<void> {
    const items = this.items;
    let k = 0;
    while (k < seqs.length && this.head < items.length && items[this.head]!.seq === seqs[k]) {
      this.head += 1;
      k += 1;
    }
    if (k < seqs.length) {
      const gone = new Set(seqs.slice(k));
      this.items = items.slice(this.head).filter((i) => !gone.has(i.seq));
      this.head = 0;
    } else if (this.head === items.length || (this.head >= 1024 && this.head * 2 >= items.length)) {
      this.items = items.slice(this.head);
      this.head = 0;
    }
  }

  /** Out-of-order append: keeps seq order, and an item with a known seq replaces it. */
  private insert(item: QueueItem): void {
    const items = this.items;
    let i = this.head;
    while (i < items.length && items[i]!.seq < item.seq) i += 1;
    if (items[i]?.seq === item.seq) items[i] = item;
    else items.splice(i, 0, item);
  }
}
