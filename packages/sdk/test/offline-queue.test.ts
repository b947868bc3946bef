import { describe, expect, it } from "vitest";
import { type QueueFailure, OfflineQueue } from "../src/queue/offline-queue.js";
import { MemoryQueueStore } from "../src/queue/memory-store.js";
import type { QueueItem, QueueOverflowInfo, QueueReadLimits } from "../src/queue/types.js";

/** Records every store call in order; `failAppends` makes the next appends reject. */
class RecordingStore extends MemoryQueueStore {
  readonly calls: string[] = [];
  failAppends = 0;
  override async append(items: readonly QueueItem[]): Promise<void> {
    this.calls.push(`append ${items.map((i) => i.seq).join(",")}`);
    if (this.failAppends > 0) {
      this.failAppends -= 1;
      throw new Error("disk full");
    }
    await super.append(items);
  }
  override async read(afterSeq: number, limits: QueueReadLimits): Promise<QueueItem[]> {
    const page = await super.read(afterSeq, limits);
    this.calls.push(`read ${afterSeq}:${page.length}`);
    return page;
  }
  override async truncate(uptoSeq: number): Promise<void> {
    this.calls.push(`truncate ${uptoSeq}`);
    await super.truncate(uptoSeq);
  }
  async stored(): Promise<number[]> {
    return (await super.read(0, { maxItems: 1e9, maxBytes: 2 ** 40 })).map((i) => i.seq);
  }
}

function value(v: number) {
  return { kind: "property" as const, thing: "t", name: "p", value: { intValue: v }, timestampMs: 1, quality: 0 };
}

function event(name: string) {
  return { kind: "event" as const, thing: "t", name, data: {}, timestampMs: 1 };
}

async function openQueue(
  options: ConstructorParameters<typeof OfflineQueue>[0] = {},
  overflow?: QueueOverflowInfo[],
  failures?: QueueFailure[],
  store = new RecordingStore(),
) {
  const queue = new OfflineQueue(
    { store, ...options },
    (info) => overflow?.push(info),
    () => {},
    (f) => failures?.push(f),
  );
  await queue.open();
  return { queue, store };
}

const settle = () => new Promise((r) => setImmediate(r));

describe("OfflineQueue", () => {
  it("order - events leave one at a time, or in runs with eventRuns; kinds are never mixed", async () => {
    const { queue } = await openQueue();
    queue.enqueue(event("a"));
    queue.enqueue(event("b"));
    queue.enqueue(value(1));
    queue.enqueue(value(2));
    for (const name of ["c", "d", "e"]) queue.enqueue(event(name));
    await settle();
    expect(queue.takeBatch(10).map((i) => i.seq)).toEqual([1]);
    queue.release([1]);
    expect(queue.takeBatch(10, true).map((i) => i.seq)).toEqual([1, 2]);
    expect(queue.takeBatch(10, true).map((i) => i.seq)).toEqual([3, 4]);
    expect(queue.takeBatch(2, true).map((i) => i.seq)).toEqual([5, 6]);
    expect(queue.takeBatch(2, true).map((i) => i.seq)).toEqual([7]);
  });

  it("store - items queued together are appended in one call, before the acknowledged prefix is truncated", async () => {
    const { queue, store } = await openQueue();
    for (let v = 1; v <= 3; v++) queue.enqueue(value(v));
    expect(queue.takeBatch(10)).toEqual([]);
    await settle();
    const batch = queue.takeBatch(10);
    expect(batch.map((i) => i.seq)).toEqual([1, 2, 3]);
    expect(batch[0]).toEqual({ ...value(1), seq: 1 });
    queue.ack([1, 2, 3]);
    queue.enqueue(value(4));
    await settle();
    expect(store.calls).toEqual(["read 0:0", "append 1,2,3", "truncate 3", "append 4"]);
    expect(await store.stored()).toEqual([4]);
  });

  it("order - batches follow seq order, in-flight items are skipped, released ones are sent again", async () => {
    const { queue } = await openQueue();
    for (let v = 1; v <= 7; v++) queue.enqueue(value(v));
    await settle();
    expect(queue.takeBatch(3).map((i) => i.seq)).toEqual([1, 2, 3]);
    expect(queue.takeBatch(3).map((i) => i.seq)).toEqual([4, 5, 6]);
    queue.release([1, 2, 3]);
    expect(queue.takeBatch(10).map((i) => i.seq)).toEqual([1, 2, 3, 7]);
    queue.ack([4, 5, 6]);
    expect(queue.size).toBe(4);
    queue.releaseAll();
    expect(queue.takeBatch(10).map((i) => i.seq)).toEqual([1, 2, 3, 7]);
    queue.ack([1, 2, 3, 7]);
    expect(queue.size).toBe(0);
  });

  it("ack - unknown or out-of-order seqs remove exactly the named items", async () => {
    const { queue } = await openQueue();
    for (let v = 1; v <= 5; v++) queue.enqueue(value(v));
    await settle();
    queue.takeBatch(5);
    queue.ack([2, 99, 4]);
    queue.release([1, 3, 5]);
    expect(queue.takeBatch(10).map((i) => i.seq)).toEqual([1, 3, 5]);
    queue.ack([1, 3, 5]);
    expect(queue.size).toBe(0);
    await queue.drained();
  });

  it("drop-oldest - drops the oldest item even when in flight, reports it, and stays in order over many rounds", async () => {
    const overflow: QueueOverflowInfo[] = [];
    const { queue, store } = await openQueue({ maxItems: 3, overflow: "drop-oldest" }, overflow);
    for (let v = 1; v <= 3; v++) queue.enqueue(value(v));
    await settle();
    expect(queue.takeBatch(2).map((i) => i.seq)).toEqual([1, 2]);
    queue.enqueue(value(4));
    expect(overflow).toEqual([{ policy: "drop-oldest", dropped: 1, totalDropped: 1, maxItems: 3 }]);
    queue.ack([1, 2]);
    await settle();
    expect(queue.takeBatch(10).map((i) => i.seq)).toEqual([3, 4]);
    queue.ack([3, 4]);
    await queue.drained();
    expect(store.calls).toEqual(["read 0:0", "append 1,2,3", "truncate 2", "append 4", "truncate 4"]);

    let next = 5;
    for (let round = 0; round < 1500; round++) {
      queue.enqueue(value(next++));
      queue.enqueue(value(next++));
      await settle();
      const batch = queue.takeBatch(1);
      queue.ack(batch.map((i) => i.seq));
    }
    await settle();
    const rest = queue.takeBatch(10).map((i) => i.seq);
    expect(rest).toEqual([next - 2, next - 1]);
    expect(queue.size).toBe(2);
    expect(overflow.at(-1)?.totalDropped).toBe(1 + 1498); // full from the third round on
  });

  it("append failure - the items are reported failed, never handed out, and drained() does not wait for them", async () => {
    const failures: QueueFailure[] = [];
    const store = new RecordingStore();
    const { queue } = await openQueue({}, undefined, failures, store);
    store.failAppends = 1;
    queue.enqueue(value(1));
    queue.enqueue(value(2));
    await settle();
    queue.enqueue(value(3));
    await settle();
    expect(queue.takeBatch(10).map((i) => i.seq)).toEqual([3]);
    expect(failures.map((f) => [f.items, f.error.message])).toEqual([[2, "disk full"]]);
    expect(queue.size).toBe(1);
    queue.ack([3]);
    await queue.drained();
    expect(await store.stored()).toEqual([]);
  });

  it("append failure - a failure with nothing after it leaves the queue empty: drained() resolves", async () => {
    const failures: QueueFailure[] = [];
    const store = new RecordingStore();
    const { queue } = await openQueue({}, undefined, failures, store);
    store.failAppends = 1;
    queue.enqueue(value(1));
    await queue.drained();
    expect(queue.takeBatch(10)).toEqual([]);
    expect(failures.map((f) => f.items)).toEqual([1]);
  });

  it("paging - a backlog larger than memoryItems is read back in pages and delivered in order", async () => {
    const store = new RecordingStore();
    await store.append(Array.from({ length: 25 }, (_, k) => ({ ...value(k + 1), seq: k + 1 })));
    const { queue } = await openQueue({ memoryItems: 10 }, undefined, undefined, store);
    expect(queue.size).toBe(25);
    for (let v = 26; v <= 30; v++) queue.enqueue(value(v));
    const sent: number[] = [];
    for (let round = 0; round < 100 && queue.size > 0; round++) {
      await settle();
      const batch = queue.takeBatch(4);
      sent.push(...batch.map((i) => i.seq));
      queue.ack(batch.map((i) => i.seq));
    }
    expect(sent).toEqual(Array.from({ length: 30 }, (_, k) => k + 1));
    await queue.drained();
    const reads = store.calls.filter((c) => c.startsWith("read")).map((c) => Number(c.split(":")[1]));
    expect(Math.max(...reads)).toBeLessThanOrEqual(10);
    expect(await store.stored()).toEqual([]);
  });

  it("connect - the run the server reports applied leaves the queue unsent", async () => {
    const { queue } = await openQueue();
    for (let v = 1; v <= 6; v++) queue.enqueue(value(v));
    await settle();
    expect(queue.settleDelivered(0, 0)).toBe(false);
    queue.release(queue.takeBatch(6).map((i) => i.seq));
    expect(queue.settleDelivered(2, 4)).toBe(false);
    expect(queue.takeBatch(10).map((i) => i.seq)).toEqual([1, 5, 6]);
  });

  it("connect - a store behind the server keeps its items and renumbers those queued since open", async () => {
    const store = new RecordingStore();
    await store.append([{ ...value(1), seq: 1 }]);
    const { queue } = await openQueue({}, undefined, undefined, store);
    queue.enqueue(value(2));
    await settle();
    expect(queue.settleDelivered(1, 9)).toBe(true);
    await settle();
    const batch = queue.takeBatch(10);
    expect(batch.map((i) => [i.seq, (i as { value: { intValue: number } }).value.intValue])).toEqual([
      [1, 1],
      [10, 2],
    ]);
  });
});
