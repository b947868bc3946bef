import { afterEach, describe, expect, it } from "vitest";
import type { EdgeClient } from "../src/client.js";
import { clientFor } from "./helpers/client.js";
import { FakeServer } from "./helpers/fake-server.js";
import { MemoryQueueStore } from "../src/queue/memory-store.js";
import type { QueueItem } from "../src/queue/types.js";

/** Holds appends until release() so that queued items stay unsent. */
class GatedStore extends MemoryQueueStore {
  private gate: Promise<void>;
  release!: () => void;
  constructor() {
    super();
    this.gate = new Promise((r) => {
      this.release = r;
    });
  }
  override async append(items: readonly QueueItem[]): Promise<void> {
    await this.gate;
    await super.append(items);
  }
}

let client: EdgeClient | undefined;
afterEach(async () => {
  await client?.close({ flush: false });
  client = undefined;
});

describe("EdgeClient overflow keeps properties consistent", () => {
  it("reject - a refused set() changes nothing, so setting the same value later is delivered", async () => {
    const server = new FakeServer();
    client = clientFor(server, { queue: { maxItems: 1, overflow: "reject" } });
    const t = client.thing("pump");
    t.set("a", 1);
    expect(() => t.set("a", 2)).toThrow(expect.objectContaining({ code: "OUTPOST_QUEUE_OVERFLOW" }));
    expect(t.get("a")).toBe(1);
    await client.connect();
    await client.flush();
    t.set("a", 2);
    await client.flush();
    expect(server.updates.map((u) => u.value?.intValue)).toEqual([1, 2]);
  });

  it("drop-newest - a dropped on-change value set again once there is room is queued again", async () => {
    const server = new FakeServer();
    const store = new GatedStore();
    client = clientFor(server, { queue: { maxItems: 1, overflow: "drop-newest", store } });
    const t = client.thing("pump");
    await client.connect();
    t.set("a", 1);
    t.set("b", 5);
    expect(t.get("b")).toBe(5);
    store.release();
    await client.flush();
    t.set("b", 5);
    await client.flush();
    expect(server.updates.filter((u) => u.seq !== 0).map((u) => [u.name, u.value?.intValue])).toEqual([
      ["a", 1],
      ["b", 5],
    ]);
  });
});
