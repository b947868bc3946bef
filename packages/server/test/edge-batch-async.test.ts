import { type Envelope, type ItemStatus, type PropertyValue, Status, toWireValue, wire } from "@outpost/protocol";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { MemoryAuditLog } from "../src/audit/memory-audit-log.js";
import type { EdgeDeps, HandlerContext } from "../src/edge/context.js";
import { DeviceLimits } from "../src/edge/device-limits.js";
import { handlePropertyUpdate } from "../src/edge/handlers/property-update.js";
import { asyncRegistryOf } from "../src/registry/async-sqlite.js";
import { lastRun } from "../src/registry/delivery.js";
import { SqliteRegistry } from "../src/registry/sqlite.js";
import { ChangeHub, type ThingChange } from "../src/things/changes.js";

// The update path of the edge over the asynchronous registry, in process: the handler, the commit
// group and the SQLite registry's asynchronous view, without TLS or framing.

let registry: SqliteRegistry;
let deps: EdgeDeps;
let published: string[];

beforeEach(() => {
  registry = new SqliteRegistry(":memory:");
  for (const id of ["dev-1", "dev-2"]) {
    registry.createDevice(id);
    registry.assignThing(`pump-${id}`, id);
  }
  const hub = new ChangeHub();
  published = [];
  hub.subscribe({}, (c: ThingChange) => {
    if (c.type === "property") published.push(`${c.thing}/${c.name}=${String(c.value)}`);
  });
  deps = {
    registry: asyncRegistryOf(registry),
    audit: new MemoryAuditLog(),
    logger: pino({ level: "silent" }),
    hub,
    deviceLimits: new DeviceLimits(),
  } as unknown as EdgeDeps;
});

afterEach(() => registry.close());

interface Device {
  ctx: HandlerContext;
  answers: Map<number, { items?: ItemStatus[]; error?: unknown }>;
}

function device(deviceId: string): Device {
  const answers = new Map<number, { items?: ItemStatus[]; error?: unknown }>();
  const ctx: HandlerContext = {
    deviceId,
    sessionId: `s-${deviceId}`,
    source: "127.0.0.1",
    deps,
    bound: new Set([`pump-${deviceId}`]),
    reply: (request, response) => answers.set(request.requestId, { items: response.items ?? [] }),
    replyError: (request, error) => answers.set(request.requestId, { error }),
    send: () => {},
    reportFault: () => {},
  };
  return { ctx, answers };
}

let nextRequest = 1;

/** Sends one batch of `values` (epoch 7) and returns its request id. */
function send(d: Device, values: PropertyValue[]): number {
  const requestId = nextRequest++;
  const envelope = wire.Envelope.create({ requestId, propertyUpdate: { epoch: 7, values } }) as Envelope;
  handlePropertyUpdate(d.ctx, envelope);
  return requestId;
}

function value(thing: string, name: string, seq: number, v: number): PropertyValue {
  return { thing, name, value: toWireValue(v), timestampMs: 1000 + seq, seq };
}

/** Until every request in `ids` is answered (bounded in turns). */
async function answered(d: Device, ids: number[]): Promise<void> {
  for (let i = 0; i < 100 && !ids.every((id) => d.answers.has(id)); i++) {
    await new Promise((resolve) => setImmediate(resolve));
  }
  expect(ids.filter((id) => !d.answers.has(id))).toEqual([]);
}

const stored = (thing: string) => registry.getProperties(thing).map((p) => `${p.name}=${String(p.value)}`);

describe("edge batches over the asynchronous registry", () => {
  it("edge - two devices' batches flushed together commit each batch with its delivery record, exactly once", async () => {
    const a = device("dev-1");
    const b = device("dev-2");
    // dev-2's delivery record cannot be written: its batch must leave no value behind and be
    // answered with the error, while dev-1's batch in the same transaction commits.
    const setDelivery = registry.setDelivery.bind(registry);
    const failing = vi.spyOn(registry, "setDelivery").mockImplementation((deviceId, epoch, record) => {
      if (deviceId === "dev-2") throw new Error("SQLITE_IOERR: disk I/O error");
      setDelivery(deviceId, epoch, record);
    });
    const a1 = send(a, [value("pump-dev-1", "speed", 1, 10), value("pump-dev-1", "speed", 2, 11)]);
    const b1 = send(b, [value("pump-dev-2", "speed", 1, 20), value("pump-dev-2", "level", 2, 21)]);
    await answered(a, [a1]);
    await answered(b, [b1]);
    expect(a.answers.get(a1)).toEqual({ items: [] });
    expect((b.answers.get(b1)?.error as Error).message).toMatch(/disk I\/O error/);
    expect(stored("pump-dev-1")).toEqual(["speed=11"]);
    expect(stored("pump-dev-2")).toEqual([]);
    expect(registry.getDelivery("dev-2", 7).runs).toEqual([]);
    expect(published).toEqual(["pump-dev-1/speed=10", "pump-dev-1/speed=11"]);

    // Both devices send again (dev-1 lost its acknowledgement): dev-1's is a duplicate, dev-2's
    // applies now, once.
    failing.mockRestore();
    const a2 = send(a, [value("pump-dev-1", "speed", 1, 10), value("pump-dev-1", "speed", 2, 11)]);
    const b2 = send(b, [value("pump-dev-2", "speed", 1, 20), value("pump-dev-2", "level", 2, 21)]);
    const b3 = send(b, [value("pump-dev-2", "speed", 1, 20), value("pump-dev-2", "level", 2, 21)]);
    await answered(a, [a2]);
    await answered(b, [b2, b3]);
    // A duplicate is acknowledged like an applied item, but neither stored nor published again.
    expect(a.answers.get(a2)).toEqual({ items: [] });
    expect(b.answers.get(b2)).toEqual({ items: [] });
    expect(b.answers.get(b3)).toEqual({ items: [] });
    expect(stored("pump-dev-2").sort()).toEqual(["level=21", "speed=20"]);
    expect(lastRun(registry.getDelivery("dev-2", 7))).toEqual([1, 2]);
    expect(published.filter((p) => p.startsWith("pump-dev-2"))).toEqual(["pump-dev-2/speed=20", "pump-dev-2/level=21"]);
    expect(published.filter((p) => p.startsWith("pump-dev-1"))).toHaveLength(2);
  });

  it("edge - a write permission restricted between two batches is refused on the second", async () => {
    const a = device("dev-1");
    const first = send(a, [value("pump-dev-1", "speed", 1, 1)]);
    await answered(a, [first]);
    expect(a.answers.get(first)).toEqual({ items: [] });
    // The decision of the first batch is cached; the change must invalidate it.
    registry.restrict("dev-1", "pump-dev-1", "property.write");
    const second = send(a, [value("pump-dev-1", "speed", 2, 2)]);
    await answered(a, [second]);
    expect(a.answers.get(second)?.items?.map((i) => i.status)).toEqual([Status.Forbidden]);
    expect(stored("pump-dev-1")).toEqual(["speed=1"]);
    expect(lastRun(registry.getDelivery("dev-1", 7))).toEqual([1, 1]);
  });

  it("edge - a batch decides its permission once, not once per value", async () => {
    const a = device("dev-1");
    const can = vi.spyOn(registry, "can");
    const id = send(
      a,
      Array.from({ length: 50 }, (_, i) => value("pump-dev-1", "speed", i + 1, i)),
    );
    await answered(a, [id]);
    expect(a.answers.get(id)).toEqual({ items: [] });
    expect(can).toHaveBeenCalledTimes(1);
  });
});
