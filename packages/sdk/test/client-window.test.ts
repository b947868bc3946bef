import { CAPABILITY_EVENT_BATCH, type Envelope } from "@outpost/protocol";
import { afterEach, describe, expect, it } from "vitest";
import type { EdgeClient } from "../src/client.js";
import { clientFor } from "./helpers/client.js";
import { FakeServer, until } from "./helpers/fake-server.js";

/** Batches in flight at once against a server with "delivery-epoch" (docs/protocol.md §8). */
const WINDOW = 8;

let client: EdgeClient | undefined;
afterEach(async () => {
  await client?.close({ flush: false });
  client = undefined;
});

const queuedBatches = (server: FakeServer, connection = 0): number[][] =>
  server.connections[connection]!.received.filter((e: Envelope) => e.body === "propertyUpdate")
    .map((e) => (e.propertyUpdate?.values ?? []).map((v) => Number(v.seq)))
    .filter((seqs) => seqs.some((s) => s > 0));

describe("pipelined delivery", () => {
  it("delivery - several batches are in flight before the first acknowledgement, up to the window", async () => {
    const server = new FakeServer();
    server.onUpdate = (values) => (values.some((v) => Number(v.seq) > 0) ? "drop" : undefined);
    client = clientFor(server, { maxBatch: 5, flushIntervalMs: 0 });
    const t = client.thing("pump");
    t.property("rpm", { push: "always" });
    for (let v = 1; v <= 100; v++) t.set("rpm", v);
    await client.connect();
    await until(() => queuedBatches(server).length === WINDOW);
    await new Promise((r) => setTimeout(r, 50));
    // No acknowledgement came back, so the window caps what is in flight.
    expect(queuedBatches(server)).toEqual(
      Array.from({ length: WINDOW }, (_, b) => Array.from({ length: 5 }, (_, i) => b * 5 + i + 1)),
    );
  });

  it("delivery - a server without delivery-epoch gets one batch at a time", async () => {
    const server = new FakeServer();
    server.capabilities = [CAPABILITY_EVENT_BATCH];
    server.onUpdate = (values) => (values.some((v) => Number(v.seq) > 0) ? "drop" : undefined);
    client = clientFor(server, { maxBatch: 5, flushIntervalMs: 0 });
    const t = client.thing("pump");
    t.property("rpm", { push: "always" });
    for (let v = 1; v <= 100; v++) t.set("rpm", v);
    await client.connect();
    await until(() => queuedBatches(server).length === 1);
    await new Promise((r) => setTimeout(r, 100));
    expect(queuedBatches(server)).toHaveLength(1);
  });

  it("delivery - acknowledgements lost inside a full window, then the link drops: every value applied exactly once, in order", async () => {
    const server = new FakeServer();
    // On the first connection the server applies two batches whose answers never arrive; the link
    // then dies with the rest of the window still on the wire (never applied).
    let seen = 0;
    server.onUpdate = (values, conn) => {
      if (conn !== server.connections[0] || !values.some((v) => Number(v.seq) > 0)) return undefined;
      seen += 1;
      return seen <= 2 ? "lost" : "drop";
    };
    client = clientFor(server, { maxBatch: 5, flushIntervalMs: 0 });
    const errors: Error[] = [];
    client.on("error", (e) => errors.push(e));
    const t = client.thing("pump");
    t.property("rpm", { push: "always" });
    for (let v = 1; v <= 40; v++) t.set("rpm", v);
    await client.connect();
    await until(() => queuedBatches(server).length === WINDOW);
    await server.connections[0]!.channel.close();
    await client.flush();
    expect(errors).toEqual([]);
    const applied = server.updates.filter((u) => Number(u.seq) > 0).map((u) => u.value?.intValue);
    expect(applied).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    // The device re-sent what the record at connect did not cover, nothing it covered.
    const resent = queuedBatches(server, 1).flat();
    expect(resent.every((s) => s > 0)).toBe(true);
    expect(Math.min(...resent)).toBe(11);
    expect(client.queueSize).toBe(0);
  });
});
