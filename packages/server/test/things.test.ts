import {
  type Envelope,
  type EnvelopeInit,
  type GoodbyeReason,
  isOutpostError,
  TimeoutError,
  wire,
} from "@outpost/protocol";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { MemoryAuditLog } from "../src/audit/memory-audit-log.js";
import { asyncRegistryOf } from "../src/registry/async-sqlite.js";
import { commitGroupOf } from "../src/registry/commit-group.js";
import { SqliteRegistry } from "../src/registry/sqlite.js";
import { ChangeHub, type ThingChange } from "../src/things/changes.js";
import { type DeviceLink, DeviceLinks } from "../src/things/device-links.js";
import { ThingService } from "../src/things/thing-service.js";

/** A connected device double: answers requests with `answer` and records them. */
function fakeLink(
  deviceId: string,
  things: string[],
  answer: (init: EnvelopeInit) => Envelope | Error,
): DeviceLink & { sent: EnvelopeInit[] } {
  const sent: EnvelopeInit[] = [];
  return {
    deviceId,
    sessionId: "s1",
    source: "127.0.0.1",
    connectedAt: 1,
    sent,
    isBound: (t) => things.includes(t),
    async request(init) {
      sent.push(init);
      const r = answer(init);
      if (r instanceof Error) throw r;
      return r;
    },
    async close(_reason: GoodbyeReason) {},
  };
}

let registry: SqliteRegistry;
let audit: MemoryAuditLog;
let links: DeviceLinks;
let hub: ChangeHub;
let things: ThingService;
const alice = { kind: "operator" as const, id: "alice" };
const bob = { kind: "operator" as const, id: "bob" };

beforeEach(() => {
  registry = new SqliteRegistry(":memory:");
  audit = new MemoryAuditLog();
  links = new DeviceLinks();
  hub = new ChangeHub();
  things = new ThingService({ registry: asyncRegistryOf(registry), audit, links, hub, requestTimeoutMs: 1000 });
  registry.createDevice("dev-1");
  registry.assignThing("pump-1", "dev-1");
  registry.createOperator("alice", true);
  registry.createOperator("bob", false);
});

afterEach(() => registry.close());

describe("things", () => {
  it("things - reads fall back to the last kept values when the device is offline", async () => {
    registry.setProperty({ thing: "pump-1", name: "speed", value: 5, timestampMs: 9, quality: "good", receivedAt: 10 });
    const snapshot = await things.readProperties("pump-1", ["speed"], { by: alice });
    expect(snapshot).toEqual({
      thing: "pump-1",
      live: false,
      properties: [{ name: "speed", value: 5, timestampMs: 9, quality: "good" }],
      desired: [],
    });
  });

  it("things - bytes are kept as {$bytes} and come back as bytes", async () => {
    registry.setProperty({
      thing: "pump-1",
      name: "blob",
      value: { $bytes: "AQI=" },
      timestampMs: 1,
      quality: "good",
      receivedAt: 1,
    });
    expect((await things.latest("pump-1"))[0]?.value).toEqual(new Uint8Array([1, 2]));
  });

  it("things - an operator without the permission is refused with 403 and a denied audit record", async () => {
    const err = await things.writeProperty("pump-1", "speed", 1, bob).catch((e: unknown) => e);
    expect(isOutpostError(err, "OUTPOST_FORBIDDEN")).toBe(true);
    expect(audit.ofType("denied")[0]).toMatchObject({ actor: "operator:bob", target: "thing:pump-1" });
  });

  it("things - unknown Thing is 404, offline Thing is 503", async () => {
    expect(
      isOutpostError(await things.invokeService("nope", "x", {}, alice).catch((e: unknown) => e), "OUTPOST_NOT_FOUND"),
    ).toBe(true);
    expect(
      isOutpostError(
        await things.invokeService("pump-1", "x", {}, alice).catch((e: unknown) => e),
        "OUTPOST_UNAVAILABLE",
      ),
    ).toBe(true);
  });

  it("things - a value the device confirms for a write is kept over an older report still waiting for its commit", async () => {
    // The device reported speed=1 and then answered the write of 8: its report is queued for this
    // turn's commit when the confirmation arrives, so the kept value must be the later one.
    const link = fakeLink("dev-1", ["pump-1"], () => {
      commitGroupOf(asyncRegistryOf(registry)).add(
        (tx) =>
          tx.setProperties([
            { thing: "pump-1", name: "speed", value: 1, timestampMs: 1, quality: "good", receivedAt: 1 },
          ]),
        () => {},
      );
      return wire.Envelope.create({ response: { status: 200, items: [{ key: "pump-1/speed", status: 200 }] } });
    });
    links.add(link);
    const heard: ThingChange[] = [];
    things.subscribe({}, (c) => void heard.push(c));
    expect(await things.writeProperty("pump-1", "speed", 8, alice)).toEqual({ state: "applied" });
    await new Promise((resolve) => setImmediate(resolve));
    expect(registry.getProperties("pump-1").map((p) => [p.name, p.value])).toEqual([["speed", 8]]);
    expect(heard.map((c) => (c.type === "property" ? c.value : undefined))).toEqual([8]);
  });

  it("things - a service call goes to the bound device with its deadline and returns the result", async () => {
    const link = fakeLink("dev-1", ["pump-1"], () =>
      wire.Envelope.create({ response: { status: 200, result: { intValue: 3 } } }),
    );
    links.add(link);
    expect(await things.invokeService("pump-1", "add", { a: 1, b: 2 }, alice, { timeoutMs: 250 })).toBe(3);
    expect(link.sent[0]?.serviceInvoke).toMatchObject({ thing: "pump-1", service: "add", timeoutMs: 250 });
    expect(audit.ofType("service.invoke")[0]).toMatchObject({ outcome: "success", actor: "operator:alice" });
  });

  it("things - a device timeout is a typed timeout and audited as a failure", async () => {
    links.add(fakeLink("dev-1", ["pump-1"], () => new TimeoutError("no reply")));
    const err = await things.invokeService("pump-1", "slow", {}, alice).catch((e: unknown) => e);
    expect(isOutpostError(err, "OUTPOST_TIMEOUT")).toBe(true);
    expect(audit.ofType("service.invoke")[0]).toMatchObject({ outcome: "failure", code: "OUTPOST_TIMEOUT" });
  });

  it("things - a newer link replaces the older one and removing the old one keeps the new", () => {
    const a = fakeLink("dev-1", [], () => new Error("unused"));
    const b = fakeLink("dev-1", [], () => new Error("unused"));
    links.add(a);
    expect(links.add(b)).toBe(a);
    links.remove(a);
    expect(links.get("dev-1")).toBe(b);
  });

  it("things - subscribers get only matching changes and a throwing listener does not stop others", () => {
    const got: ThingChange[] = [];
    things.subscribe({ types: ["event"] }, () => {
      throw new Error("boom");
    });
    const off = things.subscribe({ thing: "pump-1", types: ["event"] }, (c) => got.push(c));
    hub.publish({
      type: "property",
      deviceId: "dev-1",
      thing: "pump-1",
      name: "x",
      value: 1,
      timestampMs: 1,
      quality: "good",
    });
    hub.publish({ type: "event", deviceId: "dev-1", thing: "pump-2", name: "e", data: {}, timestampMs: 1 });
    hub.publish({ type: "event", deviceId: "dev-1", thing: "pump-1", name: "e", data: {}, timestampMs: 1 });
    off();
    hub.publish({ type: "event", deviceId: "dev-1", thing: "pump-1", name: "e2", data: {}, timestampMs: 1 });
    expect(got.map((c) => c.name)).toEqual(["e"]);
  });
});
