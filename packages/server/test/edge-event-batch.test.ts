import { CAPABILITY_EVENT_BATCH, type EventMessage, Status } from "@outpost/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ThingChange } from "../src/things/changes.js";
import { connectDevice, makePki, readyDevice, startTestServer, type TestPki, type TestServer } from "./edge-harness.js";

let pki: TestPki;
let ts: TestServer;

beforeAll(async () => {
  pki = makePki(["dev-1", "dev-2"]);
  ts = await startTestServer(pki);
});

afterAll(async () => {
  await ts?.close();
});

function events(thing: string, firstSeq: number, count: number): EventMessage[] {
  return Array.from({ length: count }, (_, i) => ({
    thing,
    name: "tick",
    data: { i: { intValue: i } },
    timestampMs: 1000 + i,
    seq: firstSeq + i,
  }));
}

function published(thing: string): { changes: ThingChange[]; stop: () => void } {
  const changes: ThingChange[] = [];
  const stop = ts.server.things.subscribe({ thing }, (c) => changes.push(c));
  return { changes, stop };
}

describe("edge event batch", () => {
  it("event batch - the server announces the capability in HelloAck", async () => {
    const device = await connectDevice(ts.server.edgeUrl, pki.caPem, pki.devices["dev-1"]);
    const ack = await device.hello();
    expect(ack.helloAck?.capabilities).toContain(CAPABILITY_EVENT_BATCH);
    await device.close();
  });

  it("event batch - a batch is acknowledged without items and published in order", async () => {
    const device = await readyDevice(ts, pki, "dev-1", ["pump-1"]);
    const sub = published("pump-1");
    const reply = await device.channel.request({ eventBatch: { events: events("pump-1", 100, 5) } });
    expect(reply.response?.status).toBe(Status.OK);
    expect(reply.response?.items).toEqual([]);
    expect(sub.changes.map((c) => (c.type === "event" ? c.data["i"] : undefined))).toEqual([0, 1, 2, 3, 4]);
    expect(sub.changes[0]).toMatchObject({ type: "event", deviceId: "dev-1", thing: "pump-1", name: "tick" });
    expect(ts.registry.getDelivery("dev-1", 0).runs).toContainEqual([100, 104]);
    sub.stop();
    await device.close();
  });

  it("event batch - a batch re-sent after a lost ack is acknowledged but not published twice", async () => {
    const device = await readyDevice(ts, pki, "dev-2", ["pump-2"]);
    const sub = published("pump-2");
    const batch = { eventBatch: { events: events("pump-2", 10, 3) } };
    await device.channel.request(batch);
    const again = await device.channel.request(batch);
    expect(again.response?.status).toBe(Status.OK);
    expect(again.response?.items).toEqual([]);
    expect(sub.changes).toHaveLength(3);
    // A batch overlapping the delivered seq: only the new events are published.
    const overlap = await device.channel.request({ eventBatch: { events: events("pump-2", 11, 4) } });
    expect(overlap.response?.items).toEqual([]);
    expect(sub.changes.map((c) => (c.type === "event" ? c.data["i"] : undefined))).toEqual([0, 1, 2, 2, 3]);
    expect(ts.registry.getDelivery("dev-2", 0).runs).toEqual([[10, 14]]);
    sub.stop();
    await device.close();
  });

  it("event batch - an event for an unbound Thing is refused per item, the others accepted", async () => {
    ts.registry.assignThing("pump-1b", "dev-1");
    const device = await readyDevice(ts, pki, "dev-1", ["pump-1"]);
    const sub = published("pump-1");
    const deniedBefore = ts.audit.ofType("denied").length;
    const batch = [...events("pump-1", 200, 1), ...events("pump-1b", 201, 2), ...events("pump-1", 203, 1)];
    const reply = await device.channel.request({ eventBatch: { events: batch } });
    expect(reply.response?.status).toBe(Status.OK);
    expect(reply.response?.items?.map((i) => [i.key, i.status])).toEqual([
      ["pump-1/tick", 200],
      ["pump-1b/tick", 403],
      ["pump-1b/tick", 403],
      ["pump-1/tick", 200],
    ]);
    expect(sub.changes).toHaveLength(2);
    // Refused items are not recorded as delivered: 201 and 202 stay outside the applied runs.
    const runs = ts.registry.getDelivery("dev-1", 0).runs;
    expect(runs).toContainEqual([200, 200]);
    expect(runs).toContainEqual([203, 203]);
    const denied = ts.audit.ofType("denied").slice(deniedBefore);
    expect(denied).toHaveLength(1);
    expect(denied[0]?.details).toMatchObject({ action: "event.batch", count: 2 });
    sub.stop();
    await device.close();
  });

  it("event batch - data that cannot be converted is refused with 400 per item", async () => {
    const device = await readyDevice(ts, pki, "dev-1", ["pump-1"]);
    const sub = published("pump-1");
    const reply = await device.channel.request({
      eventBatch: {
        events: [
          { thing: "pump-1", name: "bad", data: { x: { jsonValue: "{not json" } }, seq: 300 },
          ...events("pump-1", 301, 1),
        ],
      },
    });
    expect(reply.response?.items?.map((i) => i.status)).toEqual([400, 200]);
    expect(sub.changes).toHaveLength(1);
    sub.stop();
    await device.close();
  });

  it("event batch - a single Event for an unbound Thing is still refused with 403", async () => {
    const device = await readyDevice(ts, pki, "dev-1", ["pump-1"]);
    const err = await device.channel.request({ event: events("pump-1b", 400, 1)[0]! }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ status: 403, code: "OUTPOST_FORBIDDEN" });
    await device.close();
  });
});
