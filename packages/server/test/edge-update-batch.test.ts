import { CAPABILITY_DELIVERY_EPOCH, type PropertyValue, Status, toWireValue } from "@outpost/protocol";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { asyncRegistryOf } from "../src/registry/async-sqlite.js";
import type { ThingChange } from "../src/things/changes.js";
import { connectDevice, makePki, startTestServer, type TestPki, type TestServer } from "./edge-harness.js";

let pki: TestPki;
let ts: TestServer;

beforeAll(async () => {
  pki = makePki(["dev-1", "dev-2"]);
  ts = await startTestServer(pki);
  ts.registry.assignThing("valve-1", "dev-1");
  ts.registry.restrict("dev-1", "valve-1", "property.write");
});

afterAll(async () => {
  await ts?.close();
});

function value(thing: string, name: string, seq: number, v: number): PropertyValue {
  return { thing, name, value: toWireValue(v), timestampMs: 1000 + seq, seq };
}

async function session(deviceId: string, things: string[], epoch: number) {
  const device = await connectDevice(ts.server.edgeUrl, pki.caPem, pki.devices[deviceId]);
  await device.hello({ capabilities: [CAPABILITY_DELIVERY_EPOCH], queueEpoch: epoch });
  await device.auth(ts.keys[deviceId]!);
  await device.bind(things);
  return device;
}

function published(): { seen: string[]; stop: () => void } {
  const seen: string[] = [];
  const stop = ts.server.things.subscribe({}, (c: ThingChange) => {
    if (c.type === "property") seen.push(`${c.thing}/${c.name}=${String(c.value)}`);
  });
  return { seen, stop };
}

const stored = (thing: string) =>
  Object.fromEntries(ts.registry.getProperties(thing).map((p) => [p.name, [p.value, p.timestampMs]]));

describe("edge update batch", () => {
  it("updates - several values of one property in a batch: the last is stored, every value is acknowledged once and published", async () => {
    const sub = published();
    const device = await session("dev-1", ["pump-1", "valve-1"], 31);
    const values = [
      value("pump-1", "level", 1, 10),
      value("pump-1", "speed", 2, 100),
      value("pump-1", "level", 3, 11),
      value("pump-1", "level", 4, 12),
      value("pump-1", "speed", 5, 101),
      value("pump-1", "level", 6, 13),
    ];
    const reply = await device.channel.request({ propertyUpdate: { epoch: 31, values } });
    expect(reply.response?.status).toBe(Status.OK);
    expect(reply.response?.items).toEqual([]);
    expect(stored("pump-1")).toEqual({ level: [13, 1006], speed: [101, 1005] });
    expect(ts.registry.getDelivery("dev-1", 31).runs).toEqual([[1, 6]]);
    expect(sub.seen).toEqual([
      "pump-1/level=10",
      "pump-1/speed=100",
      "pump-1/level=11",
      "pump-1/level=12",
      "pump-1/speed=101",
      "pump-1/level=13",
    ]);

    // The acknowledgement was lost: the same batch again is one duplicate per value, applied never
    // again. (A refused item at the end makes the server list every item's status.)
    const refused = value("valve-1", "open", 8, 1);
    const again = await device.channel.request({ propertyUpdate: { epoch: 31, values: [...values, refused] } });
    expect(again.response?.items?.map((i) => [i.key, i.status, i.message])).toEqual([
      ...values.map((v) => [`pump-1/${v.name}`, Status.OK, "duplicate"]),
      ["valve-1/open", Status.Forbidden, "device lacks property.write on valve-1"],
    ]);
    expect(sub.seen.length).toBe(6);
    // A batch mixing new and already applied values of one property stores the last new one.
    const mixed = await device.channel.request({
      propertyUpdate: {
        epoch: 31,
        values: [value("pump-1", "level", 7, 14), value("pump-1", "level", 6, 13), refused],
      },
    });
    expect(mixed.response?.items?.map((i) => [i.status, i.message])).toEqual([
      [Status.OK, ""],
      [Status.OK, "duplicate"],
      [Status.Forbidden, "device lacks property.write on valve-1"],
    ]);
    expect(stored("pump-1")).toEqual({ level: [14, 1007], speed: [101, 1005] });
    expect(sub.seen.slice(6)).toEqual(["pump-1/level=14"]);
    expect(ts.registry.getDelivery("dev-1", 31).runs).toEqual([[1, 7]]);
    sub.stop();
    await device.close();
  });

  it("updates - a property the device may not write is refused in its batch; the other items of the batch apply", async () => {
    const sub = published();
    const before = ts.audit.records.length;
    const device = await session("dev-1", ["pump-1", "valve-1"], 32);
    const values = [
      value("pump-1", "flow", 1, 1),
      value("valve-1", "open", 2, 1),
      value("pump-1", "flow", 3, 2),
      value("valve-1", "open", 4, 0),
      value("pump-1", "temp", 5, 40),
    ];
    const reply = await device.channel.request({ propertyUpdate: { epoch: 32, values } });
    expect(reply.response?.items?.map((i) => [i.key, i.status])).toEqual([
      ["pump-1/flow", Status.OK],
      ["valve-1/open", Status.Forbidden],
      ["pump-1/flow", Status.OK],
      ["valve-1/open", Status.Forbidden],
      ["pump-1/temp", Status.OK],
    ]);
    expect(stored("pump-1")).toMatchObject({ flow: [2, 1003], temp: [40, 1005] });
    expect(stored("valve-1")).toEqual({});
    expect(sub.seen).toEqual(["pump-1/flow=1", "pump-1/flow=2", "pump-1/temp=40"]);
    // The refused seqs are not marked delivered.
    expect(ts.registry.getDelivery("dev-1", 32).runs).toEqual([
      [1, 1],
      [3, 3],
      [5, 5],
    ]);
    const denied = ts.audit.records.slice(before).filter((r) => r.type === "denied");
    expect(denied.map((r) => r.details)).toEqual([
      { action: "property.update", count: 2, items: ["valve-1/open", "valve-1/open"] },
    ]);
    sub.stop();
    await device.close();
  });

  it("updates - Auth, Bind and an update sent without waiting are handled in order: the update sees the Thing bound", async () => {
    const device = await connectDevice(ts.server.edgeUrl, pki.caPem, pki.devices["dev-2"]);
    await device.hello({ capabilities: [CAPABILITY_DELIVERY_EPOCH], queueEpoch: 41 });
    // Auth and Bind wait for the registry (here a slow one, as a networked database would be);
    // the frames behind them must not overtake them.
    const view = asyncRegistryOf(ts.registry);
    const slow = <K extends "checkKey" | "getThing">(name: K) => {
      const original = view[name].bind(view) as (...args: unknown[]) => Promise<unknown>;
      return vi.spyOn(view, name).mockImplementation((async (...args: unknown[]) => {
        await new Promise((resolve) => setTimeout(resolve, 30));
        return original(...args);
      }) as never);
    };
    const spies = [slow("checkKey"), slow("getThing")];
    const [auth, bind, update] = await Promise.all([
      device.auth(ts.keys["dev-2"]!),
      device.bind(["pump-2"]),
      device.channel.request({ propertyUpdate: { epoch: 41, values: [value("pump-2", "rate", 1, 5)] } }),
    ]);
    expect(auth.authResult?.status).toBe(Status.OK);
    expect(bind.response?.items?.map((i) => i.status)).toEqual([Status.OK]);
    expect(update.response?.status).toBe(Status.OK);
    expect(update.response?.items).toEqual([]);
    expect(stored("pump-2")).toMatchObject({ rate: [5, 1001] });
    for (const spy of spies) spy.mockRestore();
    await device.close();
  });
});
