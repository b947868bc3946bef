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

describe("Queue store", () => {
  it("store - items left after a restart are delivered with their seqs, new ones continue after lastSeq", async () => {
    const store = new MemoryQueueStore();
    const server = new FakeServer();
    const first = clientFor(server, { queue: { store, seqFloor: () => 100 } });
    clients.push(first);
    first.thing("pump").emit("booted");
    first.thing("pump").set("rpm", 1);
    await first.close({ flush: false });
    expect((await store.load()).items.map((i) => i.seq)).toEqual([101, 102]);

    const second = clientFor(server, { queue: { store, seqFloor: () => 0 } });
    clients.push(second);
    second.thing("pump").set("rpm", 2);
    await second.connect();
    await second.flush();
    expect(server.events.map((e) => e.seq)).toEqual([101]);
    expect(server.updates.filter((u) => u.seq !== 0).map((u) => [u.seq, u.value?.intValue])).toEqual([
      [102, 1],
      [103, 2],
    ]);
    expect((await store.load()).items).toEqual([]);
  });

  it("store - a store that fails to load makes connect reject instead of hanging", async () => {
    const broken: QueueStore = {
      load: () => Promise.reject(new Error("disk gone")),
      append: async () => {},
      remove: async () => {},
    };
    const c = clientFor(new FakeServer(), { queue: { store: broken } });
    clients.push(c);
    await expect(c.connect()).rejects.toThrow("disk gone");
    expect(c.status.type).toBe("disconnected");
  });

  it("store - a load that failed is tried again by the next connect, and queued items survive", async () => {
    const inner = new MemoryQueueStore();
    let failures = 1;
    const flaky: QueueStore = {
      load: () => (failures-- > 0 ? Promise.reject(new Error("not mounted yet")) : inner.load()),
      append: (items) => inner.append(items),
      remove: (seqs) => inner.remove(seqs),
    };
    const server = new FakeServer();
    const c = clientFor(server, { queue: { store: flaky } });
    clients.push(c);
    c.thing("pump").set("rpm", 7);
    await expect(c.connect()).rejects.toThrow("not mounted yet");
    await c.connect();
    await c.flush();
    expect(server.updates.filter((u) => u.seq !== 0).map((u) => u.value?.intValue)).toEqual([7]);
  });

  it("seq - the default floor keeps seqs above a previous run's with the in-memory store", async () => {
    const server = new FakeServer();
    const c = clientFor(server, { queue: {} });
    clients.push(c);
    const before = Date.now() * 1000;
    c.thing("pump").set("rpm", 1);
    await c.connect();
    await c.flush();
    const seq = server.updates.find((u) => u.seq !== 0)?.seq ?? 0;
    expect(seq).toBeGreaterThan(before);
    expect(Number.isSafeInteger(seq)).toBe(true);
  });
});
