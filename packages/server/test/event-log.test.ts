import { describe, expect, it } from "vitest";
import { changeToJson, EventLog } from "../src/operator-api/event-log.js";
import type { ChangeListener, ThingChange } from "../src/things/changes.js";
import type { ThingService } from "../src/things/thing-service.js";

/** An event log fed by hand instead of by a ThingService. */
function logOf(options: { maxEvents?: number; maxBytes?: number }) {
  let listener: ChangeListener = () => {};
  const things = {
    subscribe: (_filter: unknown, l: ChangeListener) => {
      listener = l;
      return () => {};
    },
  } as unknown as ThingService;
  const log = new EventLog(things, options);
  return { log, publish: (c: ThingChange) => listener(c) };
}

const property = (name: string, value: unknown, i: number): ThingChange =>
  ({
    type: "property",
    deviceId: "dev-1",
    thing: "pump-1",
    name,
    value,
    timestampMs: 1_767_225_600_000 + i,
    quality: "good",
  }) as ThingChange;

describe("event log", () => {
  it("event log - a kept change's JSON is the change as the operator API writes it, whatever its values", () => {
    const { log, publish } = logOf({});
    const changes: ThingChange[] = [
      property("level", 21.5, 1),
      property("count", -(2 ** 53) + 1, 2),
      property("label", 'quote " backslash \\ control \u0001 lone \ud800 é', 3),
      property("on", true, 4),
      property("none", null, 5),
      property("nan", Number.NaN, 6),
      property("blob", new Uint8Array([1, 2, 3]), 7),
      { type: "event", deviceId: "dev-1", thing: "pump-1", name: "tick", data: { i: 1, s: "x" }, timestampMs: 8 },
    ];
    for (const c of changes) publish(c);
    const kept = log.since(`${log.instance}-0`);
    expect(kept.gap).toBe(false);
    expect(kept.changes.map((c) => [c.id, c.seq, c.thing, c.type])).toEqual(
      changes.map((c, i) => [`${log.instance}-${i + 1}`, i + 1, c.thing, c.type]),
    );
    expect(kept.changes.map((c) => c.data)).toEqual(changes.map((c) => JSON.stringify(changeToJson(c))));
  });

  it("event log - the kept changes' JSON never exceeds maxBytes, also for values that grow when escaped", () => {
    const maxBytes = 4_000;
    const { log, publish } = logOf({ maxBytes });
    for (let i = 0; i < 300; i++) publish(property(`p${i % 7}`, i % 2 ? "\u0001".repeat(40 + (i % 13)) : i * 1.1, i));
    const kept = log.since(`${log.instance}-0`).changes;
    expect(kept.length).toBeGreaterThan(3);
    expect(kept.at(-1)?.seq).toBe(300);
    expect(kept.reduce((n, c) => n + c.data.length, 0)).toBeLessThanOrEqual(maxBytes);
  });
});
