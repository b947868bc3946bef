import { afterEach, describe, expect, it } from "vitest";
import type { EdgeClient } from "../src/client.js";
import type { QueueOverflowInfo } from "../src/queue/types.js";
import { clientFor } from "./helpers/client.js";
import { FakeServer, until } from "./helpers/fake-server.js";

let client: EdgeClient | undefined;

/** Lets the event loop run `n` times (the sender gets to send whatever it would send now). */
async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise<void>((r) => setImmediate(r));
}
afterEach(async () => {
  await client?.close({ flush: false });
  client = undefined;
});

describe("EdgeClient data path", () => {
  it("batching - values set within the window travel in one PropertyUpdate", async () => {
    const server = new FakeServer();
    // A window long against the few event-loop turns between the sets below, so that the values
    // can only travel together because of the window: without it each would go out on its own.
    client = clientFor(server, { flushIntervalMs: 1_000 });
    const t = client.thing("pump");
    await client.connect();
    t.set("a", 1);
    await turns(3);
    t.set("b", 2);
    await turns(3);
    t.set("c", 3);
    await client.flush();
    const updates = server.all("propertyUpdate");
    expect(updates).toHaveLength(1);
    expect(updates[0]?.propertyUpdate?.values?.map((v) => v.name)).toEqual(["a", "b", "c"]);
    expect(updates[0]?.propertyUpdate?.values?.map((v) => v.seq)).toEqual([1, 2, 3]);
  });

  it("batching - a full batch goes out at once instead of waiting out the batching window", async () => {
    const server = new FakeServer();
    client = clientFor(server, { flushIntervalMs: 60_000, maxBatch: 3 });
    const t = client.thing("pump");
    t.property("n", { push: "always" });
    await client.connect();
    for (let i = 0; i < 3; i++) t.set("n", i);
    // With a one-minute window, only a full batch can be acknowledged within the flush timeout.
    await client.flush({ signal: AbortSignal.timeout(5_000) });
    expect(server.all("propertyUpdate").map((e) => e.propertyUpdate?.values?.length)).toEqual([3]);
  });

  it("batching - maxBatch splits a backlog into several updates", async () => {
    const server = new FakeServer();
    client = clientFor(server, { maxBatch: 2 });
    const t = client.thing("pump");
    t.property("n", { push: "always" });
    for (let i = 0; i < 5; i++) t.set("n", i);
    await client.connect();
    await client.flush();
    expect(server.all("propertyUpdate").map((e) => e.propertyUpdate?.values?.length)).toEqual([2, 2, 1]);
    expect(server.updates.map((u) => u.seq)).toEqual([1, 2, 3, 4, 5]);
  });

  it("queue - values set while offline are delivered in order after connect and removed on ack", async () => {
    const server = new FakeServer();
    client = clientFor(server);
    const t = client.thing("pump");
    t.set("rpm", 10);
    t.emit("started", { by: "test" });
    t.set("rpm", 20);
    expect(client.queueSize).toBe(3);
    await client.connect();
    await client.flush();
    expect(client.queueSize).toBe(0);
    expect(server.updates.map((u) => u.seq)).toEqual([1, 3]);
    expect(server.events.map((e) => [e.name, e.seq])).toEqual([["started", 2]]);
    expect(server.events[0]?.data?.by?.stringValue).toBe("test");
  });

  it("queue - a lost ack makes the client resend the same items with the same seq", async () => {
    const server = new FakeServer();
    let dropped = 0;
    server.onUpdate = () => (dropped++ === 0 ? "drop" : undefined);
    client = clientFor(server, { requestTimeoutMs: 50 });
    const t = client.thing("pump");
    await client.connect();
    t.set("rpm", 5);
    await client.flush();
    const sent = server.all("propertyUpdate").map((e) => e.propertyUpdate?.values?.[0]?.seq);
    expect(sent).toEqual([1, 1]);
    expect(client.queueSize).toBe(0);
  });

  it("queue - per-item denials are acked (not retried) and reported as errors", async () => {
    const server = new FakeServer();
    server.onUpdate = (values) => ({
      status: 200,
      items: values.map((v) => ({ key: `${v.thing}/${v.name}`, status: v.name === "secret" ? 403 : 200 })),
    });
    client = clientFor(server);
    const errors: Error[] = [];
    client.on("error", (e) => errors.push(e));
    const t = client.thing("pump");
    await client.connect();
    t.set("secret", 1);
    t.set("open", 2);
    await client.flush();
    expect(client.queueSize).toBe(0);
    expect(errors.map((e) => (e as { code?: string }).code)).toEqual(["OUTPOST_FORBIDDEN"]);
    expect(errors[0]?.message).toContain("pump.secret");
  });

  it("queue - after a lost acknowledgement the run the server reports at connect is not sent again", async () => {
    const server = new FakeServer();
    server.onUpdate = (_values, conn) => (conn === server.connections[0] ? "lost" : undefined);
    client = clientFor(server, { flushIntervalMs: 0 });
    const t = client.thing("pump");
    t.property("rpm", { push: "always" });
    for (let v = 1; v <= 3; v++) t.set("rpm", v);
    await client.connect();
    await until(() => server.all("propertyUpdate").length === 1);
    await server.connections[0]?.channel.close();
    t.set("rpm", 4);
    await client.flush();
    const sent = server.all("propertyUpdate").map((e) => (e.propertyUpdate?.values ?? []).map((v) => Number(v.seq)));
    expect(sent.filter((seqs) => seqs.some((s) => s > 0))).toEqual([[1, 2, 3], [4]]);
    expect(server.updates.filter((u) => u.seq !== 0).map((u) => u.value?.intValue)).toEqual([1, 2, 3, 4]);
  });

  it("queue - unacked items survive a reconnect and keep their seqs", async () => {
    const server = new FakeServer();
    server.onUpdate = (_values, conn) => (conn === server.connections[0] ? "drop" : undefined);
    client = clientFor(server);
    const t = client.thing("pump");
    await client.connect();
    t.set("rpm", 7);
    await until(() => server.all("propertyUpdate").length === 1);
    await server.connections[0]?.channel.close();
    await client.flush();
    const seqs = server.all("propertyUpdate").flatMap((e) => e.propertyUpdate?.values?.map((v) => v.seq) ?? []);
    expect(seqs).toEqual([1, 1]);
  });

  it("overflow - drop-oldest keeps the newest items and emits queue-overflow with counts", async () => {
    const server = new FakeServer();
    client = clientFor(server, { queue: { maxItems: 2, overflow: "drop-oldest" } });
    const infos: QueueOverflowInfo[] = [];
    client.on("queue-overflow", (i) => infos.push(i));
    const t = client.thing("pump");
    t.property("n", { push: "always" });
    for (let i = 1; i <= 4; i++) t.set("n", i);
    expect(infos.map((i) => i.totalDropped)).toEqual([1, 2]);
    expect(infos[0]).toMatchObject({ policy: "drop-oldest", dropped: 1, maxItems: 2 });
    await client.connect();
    await client.flush();
    expect(server.updates.map((u) => u.value?.intValue)).toEqual([3, 4]);
  });

  it("overflow - drop-newest keeps the oldest items", async () => {
    const server = new FakeServer();
    client = clientFor(server, { queue: { maxItems: 2, overflow: "drop-newest" } });
    const infos: QueueOverflowInfo[] = [];
    client.on("queue-overflow", (i) => infos.push(i));
    const t = client.thing("pump");
    t.property("n", { push: "always" });
    for (let i = 1; i <= 4; i++) t.set("n", i);
    await client.connect();
    await client.flush();
    expect(server.updates.map((u) => u.value?.intValue)).toEqual([1, 2]);
    expect(infos).toHaveLength(2);
  });

  it("overflow - reject throws OUTPOST_QUEUE_OVERFLOW from set and emit", () => {
    const server = new FakeServer();
    client = clientFor(server, { queue: { maxItems: 1, overflow: "reject" } });
    let overflows = 0;
    client.on("queue-overflow", () => overflows++);
    const t = client.thing("pump");
    t.set("a", 1);
    expect(() => t.set("b", 2)).toThrow(expect.objectContaining({ code: "OUTPOST_QUEUE_OVERFLOW" }));
    expect(() => t.emit("e")).toThrow(expect.objectContaining({ code: "OUTPOST_QUEUE_OVERFLOW" }));
    expect(overflows).toBe(2);
    expect(client.queueSize).toBe(1);
  });

  it("flush - AbortSignal rejects with OUTPOST_ABORTED and keeps the items", async () => {
    const server = new FakeServer();
    client = clientFor(server);
    client.thing("pump").set("rpm", 1);
    const ac = new AbortController();
    const p = client.flush({ signal: ac.signal });
    ac.abort();
    await expect(p).rejects.toMatchObject({ code: "OUTPOST_ABORTED" });
    expect(client.queueSize).toBe(1);
  });

  it("close - flushes queued items, then says goodbye", async () => {
    const server = new FakeServer();
    client = clientFor(server);
    const t = client.thing("pump");
    await client.connect();
    t.set("rpm", 99);
    t.emit("stopping");
    await client.close();
    expect(server.updates.map((u) => u.value?.intValue)).toEqual([99]);
    expect(server.events.map((e) => e.name)).toEqual(["stopping"]);
    const bodies = server.last.received.map((e) => e.body);
    expect(bodies.at(-1)).toBe("goodbye");
    expect(client.status.type).toBe("closed");
    await expect(client.connect()).rejects.toMatchObject({ code: "OUTPOST_CONNECTION_CLOSED" });
  });

  it("set - a value of the wrong type is refused with OUTPOST_BAD_REQUEST and not queued", () => {
    const server = new FakeServer();
    client = clientFor(server);
    const t = client.thing("pump");
    t.property("rpm", { type: "integer" });
    expect(() => t.set("rpm", 1.5)).toThrow(expect.objectContaining({ code: "OUTPOST_BAD_REQUEST" }));
    expect(() => t.set("rpm", "fast")).toThrow(expect.objectContaining({ code: "OUTPOST_BAD_REQUEST" }));
    expect(client.queueSize).toBe(0);
    expect(t.get("rpm")).toBeUndefined();
  });
});
