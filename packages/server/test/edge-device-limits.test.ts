import { Writable } from "node:stream";
import { type EventMessage, type PropertyValue, Status } from "@outpost/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DeviceLimits } from "../src/edge/device-limits.js";
import { createLogger } from "../src/logging/logger.js";
import type { ThingChange } from "../src/things/changes.js";
import { makePki, readyDevice, startTestServer, type TestPki, type TestServer } from "./edge-harness.js";

let pki: TestPki;
let ts: TestServer;
const logLines: string[] = [];

beforeAll(async () => {
  pki = makePki(["dev-1", "dev-2"]);
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logLines.push(...chunk.toString("utf8").split("\n").filter(Boolean));
      cb();
    },
  });
  ts = await startTestServer(pki, {
    // One event per 1000 s once the burst of 3 is spent: the bucket cannot refill during the test.
    deviceLimits: { maxPropertiesPerThing: 5, eventsPerSecond: 0.001, eventBurst: 3 },
    logger: createLogger({ destination: stream, level: "debug" }),
  });
});

afterAll(async () => {
  await ts?.close();
});

function values(thing: string, names: string[]): PropertyValue[] {
  return names.map((name) => ({ thing, name, value: { intValue: 1 }, timestampMs: 1000, seq: 0 }));
}

function events(thing: string, firstSeq: number, count: number): EventMessage[] {
  return Array.from({ length: count }, (_, i) => ({
    thing,
    name: "tick",
    data: {},
    timestampMs: 1,
    seq: firstSeq + i,
  }));
}

function deniedOf(action: string) {
  return ts.audit.ofType("denied").filter((r) => String(r.details?.action).startsWith(action));
}

function logsSince(mark: number): Record<string, unknown>[] {
  return logLines.slice(mark).map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe("edge device limits", () => {
  it("device limits - invalid property and event names are refused per item (400), the rest apply, audited once per connection", async () => {
    const device = await readyDevice(ts, pki, "dev-1", ["pump-1"]);
    const huge = "n".repeat(60_000);
    const bad = [huge, "with space", "", "-lead", "ok\u0000nul", "x".repeat(129)];
    for (let round = 0; round < 2; round++) {
      const reply = await device.channel.request({ propertyUpdate: { values: values("pump-1", ["good", ...bad]) } });
      const items = reply.response?.items ?? [];
      expect(items[0]?.status).toBe(Status.OK);
      expect(items.slice(1).map((i) => i.status)).toEqual(bad.map(() => Status.BadRequest));
      expect(items[1]?.message).toContain("invalid property name");
      expect(items[1]!.key!.length).toBeLessThan(400);
    }
    const reply = await device.channel.request({
      eventBatch: { events: [{ thing: "pump-1", name: "bad name", data: {}, seq: 0 }] },
    });
    expect(reply.response?.items?.[0]?.status).toBe(Status.BadRequest);
    expect(ts.registry.getProperties("pump-1").map((p) => p.name)).toEqual(["good"]);
    expect(deniedOf("name.invalid")).toHaveLength(1);
    await device.close();
  });

  it("device limits - a Thing keeps at most maxPropertiesPerThing properties; existing ones still update; audited once", async () => {
    ts.registry.assignThing("tank-1", "dev-2");
    const device = await readyDevice(ts, pki, "dev-2", ["tank-1"]);
    const names = Array.from({ length: 8 }, (_, i) => `p${i}`);
    const first = await device.channel.request({ propertyUpdate: { values: values("tank-1", names) } });
    const statuses = (first.response?.items ?? []).map((i) => i.status);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 413, 413, 413]);
    expect(first.response?.items?.[5]?.message).toContain("maxPropertiesPerThing");
    const again = await device.channel.request({ propertyUpdate: { values: values("tank-1", ["p0", "p4", "p9"]) } });
    expect((again.response?.items ?? []).map((i) => i.status)).toEqual([200, 200, 413]);
    expect(ts.registry.countProperties("tank-1")).toBe(5);
    expect(deniedOf("property.limit")).toHaveLength(1);
    expect(deniedOf("property.limit")[0]).toMatchObject({ code: "OUTPOST_LIMIT_EXCEEDED", actor: "device:dev-2" });
    await device.close();
  });

  it("device limits - events over the device's rate are refused as a whole with 429 and not applied; one warning, one audit record", async () => {
    ts.registry.assignThing("meter-1", "dev-2");
    const device = await readyDevice(ts, pki, "dev-2", ["meter-1"]);
    const changes: ThingChange[] = [];
    const stop = ts.server.things.subscribe({ thing: "meter-1" }, (c) => changes.push(c));
    const mark = logLines.length;
    const ok = await device.channel.request({ eventBatch: { events: events("meter-1", 1000, 3) } });
    expect(ok.response?.status).toBe(Status.OK);
    const watermark = ts.registry.getDelivery("dev-2", 0);
    for (let i = 0; i < 5; i++) {
      await expect(
        device.channel.request({ eventBatch: { events: events("meter-1", 2000 + i * 10, 2) } }),
      ).rejects.toMatchObject({ status: 429, code: "OUTPOST_TOO_MANY_REQUESTS" });
    }
    await expect(device.channel.request({ event: events("meter-1", 3000, 1)[0]! })).rejects.toMatchObject({
      status: 429,
    });
    expect(changes).toHaveLength(3);
    expect(ts.registry.getDelivery("dev-2", 0)).toEqual(watermark);
    expect(deniedOf("event.rate")).toHaveLength(1);
    const lines = logsSince(mark);
    expect(lines.filter((l) => (l.level as number) >= 50)).toEqual([]);
    const warnings = lines.filter((l) => l.level === 40);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ code: "OUTPOST_TOO_MANY_REQUESTS", status: 429 });
    expect(JSON.stringify(lines)).not.toContain("    at ");
    stop();
    await device.close();
  });

  it("device limits - the event bucket refills at eventsPerSecond, admits a batch larger than the burst once, and is per device", () => {
    const limits = new DeviceLimits({ eventsPerSecond: 10, eventBurst: 20 });
    expect(limits.takeEvents("a", 50, 0)).toBe(0);
    expect(limits.takeEvents("a", 1, 0)).toBeGreaterThan(0);
    expect(limits.takeEvents("b", 1, 0)).toBe(0);
    // 50 - 20 = 30 tokens of debt: paid back after 3 s at 10/s, admitted once the bucket is positive.
    expect(limits.takeEvents("a", 1, 3_000)).toBeGreaterThan(0);
    expect(limits.takeEvents("a", 1, 3_200)).toBe(0);
    expect(limits.takeEvents("a", 100, 1_000_000)).toBe(0);
  });
});

describe("edge fault logging", () => {
  it("fault logging - a server-side failure a device can trigger again and again is logged at error level once per connection", async () => {
    const device = await readyDevice(ts, pki, "dev-1", ["pump-1"]);
    const mark = logLines.length;
    const control = ts.registry.control;
    const original = control.begin.bind(control);
    control.begin = () => {
      throw new Error("SQLITE_IOERR: disk I/O error");
    };
    try {
      for (let i = 0; i < 4; i++) {
        await expect(
          device.channel.request({ propertyUpdate: { values: values("pump-1", ["good"]) } }),
        ).rejects.toMatchObject({ status: 500 });
      }
    } finally {
      control.begin = original;
    }
    const lines = logsSince(mark);
    expect(lines.filter((l) => l.level === 50)).toHaveLength(1);
    expect(lines.filter((l) => l.level === 20 && String(l.msg).includes("failed"))).toHaveLength(3);
    await device.close();
  });
});
