import { describe, expect, it } from "vitest";
import { MemoryQueueStore } from "../src/queue/memory-store.js";
import type { QueueItem } from "../src/queue/types.js";

function item(seq: number, v = seq): QueueItem {
  return { kind: "property", seq, thing: "t", name: "p", value: { intValue: v }, timestampMs: 1, quality: 0 };
}

const seqsOf = async (store: MemoryQueueStore) => (await store.load()).items.map((i) => i.seq);

describe("MemoryQueueStore", () => {
  it("store - keeps what was appended and not removed, whatever the order of calls", async () => {
    const store = new MemoryQueueStore();
    await store.append([item(1), item(2), item(3), item(4)]);
    await store.remove([1, 2]);
    expect(await seqsOf(store)).toEqual([3, 4]);
    await store.remove([4, 99]);
    await store.append([item(6), item(5)]);
    await store.append([item(5, 50)]);
    expect(await seqsOf(store)).toEqual([3, 5, 6]);
    expect((await store.load()).items.find((i) => i.seq === 5)).toEqual(item(5, 50));
    await store.remove([3, 5, 6]);
    expect(await store.load()).toEqual({ items: [], lastSeq: 6 });
  });

  it("store - many rounds of appends and oldest-first removals keep exactly the newer items", async () => {
    const store = new MemoryQueueStore();
    let seq = 0;
    for (let round = 0; round < 3000; round++) {
      await store.append([item(++seq), item(++seq)]);
      await store.remove([round + 1]);
    }
    const left = await store.load();
    expect(left.lastSeq).toBe(6000);
    expect(left.items.map((i) => i.seq)).toEqual(Array.from({ length: 3000 }, (_, k) => 3001 + k));
  });
});
