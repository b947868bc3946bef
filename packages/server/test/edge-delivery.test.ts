import { CAPABILITY_DELIVERY_EPOCH, type PropertyValue, Status, toWireValue } from "@outpost/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ThingChange } from "../src/things/changes.js";
import { connectDevice, makePki, startTestServer, type TestPki, type TestServer } from "./edge-harness.js";

let pki: TestPki;
let ts: TestServer;

beforeAll(async () => {
  pki = makePki(["dev-1", "dev-2"]);
  ts = await startTestServer(pki);
});

afterAll(async () => {
  await ts?.close();
});

function value(thing: string, seq: number, v: number): PropertyValue {
  return { thing, name: "level", value: toWireValue(v), timestampMs: 1000 + seq, seq };
}

/** Connects with `epoch`, authenticates and binds; returns the AuthResult too. */
async function session(deviceId: string, things: string[], epoch?: number) {
  const device = await connectDevice(ts.server.edgeUrl, pki.caPem, pki.devices[deviceId]);
  const ack = await device.hello(
    epoch === undefined ? {} : { capabilities: [CAPABILITY_DELIVERY_EPOCH], queueEpoch: epoch },
  );
  const auth = await device.auth(ts.keys[deviceId]!);
  await device.bind(things);
  return { device, ack: ack.helloAck!, auth: auth.authResult! };
}

function levels(thing: string): { seen: unknown[]; stop: () => void } {
  const seen: unknown[] = [];
  const stop = ts.server.things.subscribe({ thing }, (c: ThingChange) => {
    if (c.type === "property") seen.push(c.value);
  });
  return { seen, stop };
}

describe("edge delivery", () => {
  it("delivery - the server announces delivery-epoch and tells the device its last applied run at connect", async () => {
    const first = await session("dev-1", ["pump-1"], 77);
    expect(first.ack.capabilities).toContain(CAPABILITY_DELIVERY_EPOCH);
    expect([first.auth.delivered?.firstSeq, first.auth.delivered?.lastSeq]).toEqual([0, 0]);
    const values = [1, 2, 3].map((s) => value("pump-1", s, s));
    await first.device.channel.request({ propertyUpdate: { epoch: 77, values } });
    await first.device.close();
    const again = await session("dev-1", ["pump-1"], 77);
    expect([again.auth.delivered?.firstSeq, again.auth.delivered?.lastSeq]).toEqual([1, 3]);
    await again.device.close();
    // Another epoch of the same device has its own record.
    const other = await session("dev-1", ["pump-1"], 78);
    expect([other.auth.delivered?.firstSeq, other.auth.delivered?.lastSeq]).toEqual([0, 0]);
    await other.device.close();
  });

  it("delivery - seqs of a new epoch are applied even where an older epoch already applied them", async () => {
    const sub = levels("pump-2");
    const old = await session("dev-2", ["pump-2"], 1001);
    await old.device.channel.request({
      propertyUpdate: { epoch: 1001, values: [value("pump-2", 1, 10), value("pump-2", 2, 11)] },
    });
    await old.device.close();
    const fresh = await session("dev-2", ["pump-2"], 1002);
    const reply = await fresh.device.channel.request({
      propertyUpdate: { epoch: 1002, values: [value("pump-2", 1, 20), value("pump-2", 2, 21)] },
    });
    expect(reply.response?.status).toBe(Status.OK);
    expect(reply.response?.items).toEqual([]);
    expect(sub.seen).toEqual([10, 11, 20, 21]);
    sub.stop();
    await fresh.device.close();
  });

  it("delivery - a refused item with a huge seq does not mark later seqs delivered", async () => {
    const sub = levels("pump-1");
    const { device } = await session("dev-1", ["pump-1"], 4242);
    const refused = await device.channel.request({
      propertyUpdate: { epoch: 4242, values: [value("pump-2", 2 ** 50, 1)] },
    });
    expect(refused.response?.items?.map((i) => i.status)).toEqual([Status.Forbidden]);
    const later = await device.channel.request({ propertyUpdate: { epoch: 4242, values: [value("pump-1", 5, 55)] } });
    expect(later.response?.items).toEqual([]);
    expect(sub.seen).toEqual([55]);
    // The refused seq is still not applied: sent again, it is refused again, not acknowledged as a duplicate.
    const again = await device.channel.request({
      propertyUpdate: { epoch: 4242, values: [value("pump-2", 2 ** 50, 1)] },
    });
    expect(again.response?.items?.map((i) => i.status)).toEqual([Status.Forbidden]);
    expect(ts.registry.getDelivery("dev-1", 4242).runs).toEqual([[5, 5]]);
    sub.stop();
    await device.close();
  });

  it("delivery - a device without an epoch whose clock went back gets its new data applied", async () => {
    const sub = levels("pump-2");
    const { device } = await session("dev-2", ["pump-2"]);
    const tomorrow = (Date.now() + 86_400_000) * 1000;
    await device.channel.request({
      propertyUpdate: { values: [value("pump-2", tomorrow, 1), value("pump-2", tomorrow + 1, 2)] },
    });
    const today = Date.now() * 1000;
    const reply = await device.channel.request({ propertyUpdate: { values: [value("pump-2", today, 3)] } });
    expect(reply.response?.items).toEqual([]);
    // A lost acknowledgement: the same batch again is a duplicate, not applied twice.
    await device.channel.request({ propertyUpdate: { values: [value("pump-2", today, 3)] } });
    expect(sub.seen).toEqual([1, 2, 3]);
    sub.stop();
    await device.close();
  });

  it("delivery - a seq the record can no longer vouch for is refused with 409, not acknowledged", async () => {
    ts.registry.setDelivery("dev-1", 9, { runs: [[500, 600]], base: 400 });
    const sub = levels("pump-1");
    const { device } = await session("dev-1", ["pump-1"], 9);
    const reply = await device.channel.request({
      propertyUpdate: { epoch: 9, values: [value("pump-1", 300, 1), value("pump-1", 550, 2), value("pump-1", 601, 3)] },
    });
    expect(reply.response?.items?.map((i) => [i.status, i.message])).toEqual([
      [Status.Conflict, "seq 300 is older than the delivery record"],
      [Status.OK, "duplicate"],
      [Status.OK, ""],
    ]);
    expect(sub.seen).toEqual([3]);
    sub.stop();
    await device.close();
  });

  it("delivery - a device that does not announce delivery-epoch gets no delivery fields", async () => {
    const device = await connectDevice(ts.server.edgeUrl, pki.caPem, pki.devices["dev-2"]);
    await device.hello({ queueEpoch: 5 });
    const auth = await device.auth(ts.keys["dev-2"]!);
    expect(auth.authResult?.delivered ?? null).toBeNull();
    await device.close();
  });
});
