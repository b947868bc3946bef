import { describe, expect, it } from "vitest";
import { MemoryQueueStore } from "../src/queue/memory-store.js";
import type { QueueItem } from "../src/queue/types.js";

function item(seq: number, v = seq): QueueItem {
  return { kind: "property", seq, thing: "t", name: "p", value: { intValue: v }, timestampMs: 1, quality: 0 };
}

const all = { maxItems: 1_000_000, maxBytes: 1 << 30 };
const seqsOf = async (store: MemoryQueueStore, after = 0) => (await store.read(after, all)).map((i) => i.seq);

describe("MemoryQueueStore", () => {
  it("store - each store has its own random epoch and starts at lastSeq 0", async () => {
    const a = await new MemoryQueueStore().open();
    const b = await new MemoryQueueStore().open();
    expect(a.lastSeq).toBe(0);
    expect(Number.isSafeInteger(a.epoch) && a.epoch > 0).toBe(true);
    expect(a.epoch).not.toBe(b.epoch);
  });

  it("store - reads pages after a seq within item and byte limits, at least one item", async () => {
    const store = new MemoryQueueStore();
    await store.append([item(1), item(2), item(4), item(5)]);
    expect(await seqsOf(store)).toEqual([1, 2, 4, 5]);
    expect(await seqsOf(store, 2)).toEqual([4, 5]);
    expect((await store.read(0, { maxItems: 3, maxBytes: 1 << 20 })).map((i) => i.seq)).toEqual([1, 2, 4]);
    expect((await store.read(1, { maxItems: 10, maxBytes: 1 })).map((i) => i.seq)).toEqual([2]);
    expect(await store.read(5, all)).toEqual([]);
  });

  it("store - refuses an append that does not continue the seq order", async () => {
    const store = new MemoryQueueStore();
    await store.append([item(3)]);
    await expect(store.append([item(3)])).rejects.toThrow(RangeError);
    await expect(store.append([item(2)])).rejects.toThrow(RangeError);
  });

  it("store - truncate cuts the prefix and keeps lastSeq, over many rounds", async () => {
    const store = new MemoryQueueStore();
    let seq = 0;
    for (let round = 0; round < 3000; round++) {
      await store.append([item(++seq), item(++seq)]);
      await store.truncate(round + 1);
    }
    expect((await store.open()).lastSeq).toBe(6000);
    expect(await seqsOf(store)).toEqual(Array.from({ length: 3000 }, (_, k) => 3001 + k));
    await store.truncate(10_000);
    expect(await seqsOf(store)).toEqual([]);
    expect((await store.open()).lastSeq).toBe(6000);
  });
});
