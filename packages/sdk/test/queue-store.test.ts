import { afterEach, describe, expect, it } from "vitest";
import type { EdgeClient } from "../src/client.js";
import { MemoryQueueStore } from "../src/queue/memory-store.js";
import type { QueueStore } from "../src/queue/types.js";
import { clientFor } from "./helpers/client.js";
import { FakeServer } from "./helpers/fake-server.js";

let clients: EdgeClient[] = [];
afterEach(async () => {
  for (const c of clients) await c.close({ flush: false });
  clients = [];
});

const all = { maxItems: 1e9, maxBytes: 2 ** 40 };

/** A store that delegates to `inner`, with hooks to make calls fail. */
function wrap(inner: MemoryQueueStore, over: Partial<QueueStore>): QueueStore {
  return {
    open: () => inner.open(),
    append: (items) => inner.append(items),
    read: (after, limits) => inner.read(after, limits),
    truncate: (upto) => inner.truncate(upto),
    ...over,
  };
}

describe("Queue store", () => {
  it("store - items left after a restart are delivered with their epoch and seqs, new ones continue after lastSeq", async () => {
    const store = new MemoryQueueStore();
    const server = new FakeServer();
    const first = clientFor(server, { queue: { store } });
    clients.push(first);
    first.thing("pump").emit("booted");
    first.thing("pump").set("rpm", 1);
    await first.close({ flush: false });
    expect((await store.read(0, all)).map((i) => i.seq)).toEqual([1, 2]);

    const second = clientFor(server, { queue: { store } });
    clients.push(second);
    second.thing("pump").set("rpm", 2);
    await second.connect();
    await second.flush();
    expect(server.events.map((e) => e.seq)).toEqual([1]);
    expect(server.updates.filter((u) => u.seq !== 0).map((u) => [u.seq, u.value?.intValue])).toEqual([
      [2, 1],
      [3, 2],
    ]);
    expect([...(server.applied.get(store.epoch) ?? [])]).toEqual([1, 2, 3]);
    expect(server.all("propertyUpdate").every((e) => Number(e.propertyUpdate?.epoch) === store.epoch)).toBe(true);
    expect(await store.read(0, all)).toEqual([]);
  });

  it("store - a store that fails to open makes connect reject instead of hanging", async () => {
    const broken = wrap(new MemoryQueueStore(), { open: () => Promise.reject(new Error("disk gone")) });
    const c = clientFor(new FakeServer(), { queue: { store: broken } });
    clients.push(c);
    await expect(c.connect()).rejects.toThrow("disk gone");
    expect(c.status.type).toBe("disconnected");
  });

  it("store - an open that failed is tried again by the next connect, and queued items survive", async () => {
    const inner = new MemoryQueueStore();
    let failures = 1;
    const flaky = wrap(inner, {
      open: () => (failures-- > 0 ? Promise.reject(new Error("not mounted yet")) : inner.open()),
    });
    const server = new FakeServer();
    const c = clientFor(server, { queue: { store: flaky } });
    clients.push(c);
    c.thing("pump").set("rpm", 7);
    await expect(c.connect()).rejects.toThrow("not mounted yet");
    await c.connect();
    await c.flush();
    expect(server.updates.filter((u) => u.seq !== 0).map((u) => u.value?.intValue)).toEqual([7]);
  });

  it("store - a failed append is reported as an error, its items are not sent, flush() does not stall", async () => {
    const inner = new MemoryQueueStore();
    let fail = true;
    const store = wrap(inner, {
      append: (items) => (fail ? Promise.reject(new Error("disk full")) : inner.append(items)),
    });
    const server = new FakeServer();
    const c = clientFor(server, { queue: { store } });
    clients.push(c);
    const errors: Error[] = [];
    c.on("error", (e) => errors.push(e));
    await c.connect();
    c.thing("pump").set("rpm", 1);
    await c.flush({ signal: AbortSignal.timeout(2_000) });
    fail = false;
    c.thing("pump").set("rpm", 2);
    await c.flush({ signal: AbortSignal.timeout(2_000) });
    expect(server.updates.filter((u) => u.seq !== 0).map((u) => [u.seq, u.value?.intValue])).toEqual([[2, 2]]);
    expect(errors.map((e) => e.message)).toContain(
      "offline queue store failed: 1 queued item(s) were not persisted and are dropped unsent",
    );
  });

  it("seq - each in-memory store is a new epoch counting from 1, whatever the clock", async () => {
    const server = new FakeServer();
    for (let run = 0; run < 2; run++) {
      const c = clientFor(server, { queue: {} });
      clients.push(c);
      c.thing("pump").set("rpm", run);
      await c.connect();
      await c.flush();
      await c.close();
    }
    const updates = server.all("propertyUpdate").filter((e) => e.propertyUpdate?.values?.[0]?.seq !== 0);
    expect(updates.map((e) => Number(e.propertyUpdate?.values?.[0]?.seq))).toEqual([1, 1]);
    const epochs = new Set(updates.map((e) => Number(e.propertyUpdate?.epoch)));
    expect(epochs.size).toBe(2);
    expect(server.updates.filter((u) => u.seq !== 0).map((u) => u.value?.intValue)).toEqual([0, 1]);
  });
});
