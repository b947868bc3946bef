import { afterEach, describe, expect, it } from "vitest";
import type { EdgeClient } from "../src/client.js";
import { clientFor } from "./helpers/client.js";
import { FakeServer } from "./helpers/fake-server.js";

let client: EdgeClient | undefined;
afterEach(async () => {
  await client?.close({ flush: false });
  client = undefined;
});

describe("EdgeClient flush aborted while offline", () => {
  it("flush - each aborted flush() leaves nothing behind in the queue", async () => {
    const server = new FakeServer();
    client = clientFor(server);
    client.thing("pump").set("rpm", 1);
    for (let i = 0; i < 100; i++) {
      const ac = new AbortController();
      const flushing = client.flush({ signal: ac.signal });
      ac.abort();
      await expect(flushing).rejects.toMatchObject({ code: "OUTPOST_ABORTED" });
    }
    const queue = (client as unknown as { queue: { drainWaiters: unknown[] } }).queue;
    expect(queue.drainWaiters.length).toBe(0);
  });
});
