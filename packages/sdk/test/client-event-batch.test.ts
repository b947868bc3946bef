import { CAPABILITY_DELIVERY_EPOCH, CAPABILITY_EVENT_BATCH, type Envelope } from "@outpost/protocol";
import { afterEach, describe, expect, it } from "vitest";
import type { EdgeClient } from "../src/client.js";
import { clientFor } from "./helpers/client.js";
import { FakeServer, until } from "./helpers/fake-server.js";

let client: EdgeClient | undefined;
afterEach(async () => {
  await client?.close({ flush: false });
  client = undefined;
});

function batchingServer(): FakeServer {
  const server = new FakeServer();
  server.capabilities = [CAPABILITY_EVENT_BATCH, CAPABILITY_DELIVERY_EPOCH];
  return server;
}

/** Seqs per data request (property updates of queued values and events), in the order sent. */
function requests(server: FakeServer): [string, number[]][] {
  return server.connections
    .flatMap((c) => c.received)
    .map((e: Envelope): [string, number[]] | undefined => {
      if (e.body === "event") return ["event", [Number(e.event?.seq)]];
      if (e.body === "eventBatch") return ["eventBatch", (e.eventBatch?.events ?? []).map((v) => Number(v.seq))];
      if (e.body === "propertyUpdate") {
        const seqs = (e.propertyUpdate?.values ?? []).map((v) => Number(v.seq)).filter((s) => s > 0);
        return seqs.length > 0 ? ["propertyUpdate", seqs] : undefined;
      }
      return undefined;
    })
    .filter((r): r is [string, number[]] => r !== undefined);
}

describe("EdgeClient event batches", () => {
  it("events - runs of queued events travel as EventBatch when the server announced event-batch", async () => {
    const server = batchingServer();
    client = clientFor(server);
    const t = client.thing("pump");
    t.property("rpm", { push: "always" });
    for (let i = 0; i < 3; i++) t.emit("tick", { i });
    t.set("rpm", 1);
    for (let i = 3; i < 5; i++) t.emit("tick", { i });
    await client.connect();
    await client.flush();
    expect(requests(server)).toEqual([
      ["eventBatch", [1, 2, 3]],
      ["propertyUpdate", [4]],
      ["eventBatch", [5, 6]],
    ]);
    expect(server.events.map((e) => e.data?.["i"]?.intValue)).toEqual([0, 1, 2, 3, 4]);
  });

  it("events - a batch holds at most maxBatch events", async () => {
    const server = batchingServer();
    client = clientFor(server, { maxBatch: 4 });
    const t = client.thing("pump");
    for (let i = 0; i < 10; i++) t.emit("tick", { i });
    await client.connect();
    await client.flush();
    expect(requests(server).map(([kind, seqs]) => [kind, seqs.length])).toEqual([
      ["eventBatch", 4],
      ["eventBatch", 4],
      ["eventBatch", 2],
    ]);
  });

  it("events - one Event per request to a server without the capability, with 1.0 clock-based seqs", async () => {
    const server = new FakeServer();
    server.capabilities = [];
    client = clientFor(server);
    const t = client.thing("pump");
    for (let i = 0; i < 4; i++) t.emit("tick", { i });
    const before = Date.now() * 1000;
    await client.connect();
    await client.flush();
    const sent = requests(server);
    const base = (sent[0]?.[1][0] ?? 0) - 1;
    expect(base).toBeGreaterThanOrEqual(before - 10_000_000);
    expect(sent.map(([kind, seqs]) => [kind, seqs.map((s) => s - base)])).toEqual([
      ["event", [1]],
      ["event", [2]],
      ["event", [3]],
      ["event", [4]],
    ]);
    expect(server.all("eventBatch")).toEqual([]);
  });

  it("events - after a lost acknowledgement the same seqs are sent again", async () => {
    const server = batchingServer();
    server.onEvents = (_events, conn) => (conn === server.connections[0] ? "drop" : undefined);
    client = clientFor(server);
    const t = client.thing("pump");
    await client.connect();
    for (let i = 0; i < 3; i++) t.emit("tick", { i });
    await until(() => server.all("eventBatch").length === 1);
    await server.connections[0]?.channel.close();
    await client.flush();
    expect(requests(server)).toEqual([
      ["eventBatch", [1, 2, 3]],
      ["eventBatch", [1, 2, 3]],
    ]);
    expect(server.events).toHaveLength(3);
  });

  it("events - an event refused in a batch is dropped and reported, the others are acknowledged", async () => {
    const server = batchingServer();
    server.onEvents = (events) => ({
      status: 200,
      items: events.map((e) => ({
        key: `${e.thing}/${e.name}`,
        status: e.name === "secret" ? 403 : 200,
        message: e.name === "secret" ? "device lacks event.emit" : "",
      })),
    });
    client = clientFor(server);
    const errors: Error[] = [];
    client.on("error", (e) => errors.push(e));
    const t = client.thing("pump");
    t.emit("tick");
    t.emit("secret");
    t.emit("tick");
    await client.connect();
    await client.flush();
    expect(client.queueSize).toBe(0);
    expect(requests(server)).toEqual([["eventBatch", [1, 2, 3]]]);
    expect(errors.map((e) => (e as { code?: string }).code)).toEqual(["OUTPOST_FORBIDDEN"]);
    expect(errors[0]?.message).toContain("pump.secret");
  });
});
