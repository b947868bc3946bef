import { describe, expect, it } from "vitest";
import { OfflineQueue } from "../src/queue/offline-queue.js";
import { MemoryQueueStore } from "../src/queue/memory-store.js";
import type { QueueItem, QueueOverflowInfo } from "../src/queue/types.js";

/** Records every store call in order. */
class RecordingStore extends MemoryQueueStore {
  readonly calls: string[] = [];
  override async append(items: readonly QueueItem[]): Promise<void> {
    this.calls.push(`append ${items.map((i) => i.seq).join(",")}`);
    await super.append(items);
  }
  override async remove(seqs: readonly number[]): Promise<void> {
    this.calls.push(`remove ${seqs.join(",")}`);
    await super.remove(seqs);
  }
}

function value(v: number) {
  return { kind: "property" as const, thing: "t", name: "p", value: { intValue: v }, timestampMs: 1, quality: 0 };
}

function event(name: string) {
  return { kind: "event" as const, thing: "t", name, data: {}, timestampMs: 1 };
}

async function openQueue(options: ConstructorParameters<typeof OfflineQueue>[0] = {}, overflow?: QueueOverflowInfo[]) {
  const store = new RecordingStore();
  const queue = new OfflineQueue({ store, seqFloor: () => 0, ...options }, (info) => overflow?.push(info));
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

  it("store - items queued together are appended in one call, before any removal of them", async () => {
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
    expect(store.calls).toEqual(["append 1,2,3", "remove 1,2,3", "append 4"]);
    expect((await store.load()).items.map((i) => i.seq)).toEqual([4]);
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
    expect(store.calls).toEqual(["append 1,2,3", "remove 1", "append 4", "remove 1,2", "remove 3,4"]);

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
});
