import { afterEach, describe, expect, it } from "vitest";
import type { EdgeClient } from "../src/client.js";
import { clientFor } from "./helpers/client.js";
import { FakeServer } from "./helpers/fake-server.js";

let client: EdgeClient | undefined;
afterEach(async () => {
  await client?.close({ flush: false });
  client = undefined;
});

describe("EdgeClient batches and the server's message limit", () => {
  it("queue - a batch too large for the server's maxMessageBytes is split, not dropped", async () => {
    const server = new FakeServer();
    server.limits = { maxFrameBytes: 1024, maxMessageBytes: 4096 };
    client = clientFor(server);
    const errors: Error[] = [];
    client.on("error", (e) => errors.push(e));
    const t = client.thing("log");
    t.property("line", { push: "always" });
    for (let i = 0; i < 10; i++) t.set("line", `${i}`.padEnd(1000, "x"));
    await client.connect();
    await client.flush();
    expect(errors).toEqual([]);
    expect(server.updates.filter((u) => u.seq !== 0).map((u) => u.value?.stringValue?.[0])).toEqual(
      Array.from({ length: 10 }, (_, i) => `${i}`),
    );
  });

  it("queue - a single item too large for the server is dropped and reported", async () => {
    const server = new FakeServer();
    server.limits = { maxFrameBytes: 1024, maxMessageBytes: 4096 };
    client = clientFor(server);
    const errors: Error[] = [];
    client.on("error", (e) => errors.push(e));
    const t = client.thing("log");
    t.property("line", { push: "always" });
    t.set("line", "y".repeat(5000));
    t.set("line", "small");
    await client.connect();
    await client.flush();
    expect(errors.map((e) => (e as { code?: string }).code)).toEqual(["OUTPOST_LIMIT_EXCEEDED"]);
    expect(server.updates.filter((u) => u.seq !== 0).map((u) => u.value?.stringValue)).toEqual(["small"]);
  });
});
