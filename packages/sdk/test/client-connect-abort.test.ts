import { afterEach, describe, expect, it } from "vitest";
import type { EdgeClient } from "../src/client.js";
import { clientFor } from "./helpers/client.js";
import { FakeServer, until } from "./helpers/fake-server.js";

let client: EdgeClient | undefined;
afterEach(async () => {
  await client?.close({ flush: false });
  client = undefined;
});

describe("EdgeClient connect() callers", () => {
  it("connect - aborting one connect() that stops the loop settles every other connect() too", async () => {
    const server = new FakeServer();
    server.failNext = 1_000;
    client = clientFor(server, { reconnect: { initialDelayMs: 20, maxDelayMs: 20 } });
    const ac = new AbortController();
    const aborted = client.connect({ signal: ac.signal });
    const other = client.connect();
    const settled = other.then(
      () => "resolved",
      (err: { code?: string }) => err.code,
    );
    await until(() => server.urls.length >= 1);
    ac.abort();
    await expect(aborted).rejects.toMatchObject({ code: "OUTPOST_ABORTED" });
    await until(() => client?.status.type === "disconnected" && client.status.retryInMs === undefined);
    const outcome = await Promise.race([settled, new Promise((r) => setTimeout(() => r("pending"), 200))]);
    expect(outcome).toBe("OUTPOST_ABORTED");
  });
});
