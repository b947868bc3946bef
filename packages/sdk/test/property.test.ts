import { describe, expect, it } from "vitest";
import { createBackoff } from "../src/connection/reconnect.js";
import { Property } from "../src/things/property.js";

describe("Property push policy", () => {
  it("deadband - only changes greater than the deadband from the last pushed value are pushed", () => {
    const p = new Property("t", "temp", { type: "number", deadband: 0.5 });
    const pushed = [20, 20.3, 20.5, 20.6, 20.2, 19.9].map((v) => p.update(v, 0));
    expect(pushed).toEqual([true, false, false, true, false, true]);
    expect(p.value).toBe(19.9);
  });

  it("on-change - equal values (including JSON and bytes) are not pushed again", () => {
    const p = new Property("t", "cfg");
    expect(p.update({ a: 1 }, 0)).toBe(true);
    expect(p.update({ a: 1 }, 0)).toBe(false);
    expect(p.update({ a: 2 }, 0)).toBe(true);
    expect(p.update(new Uint8Array([1, 2]), 0)).toBe(true);
    expect(p.update(new Uint8Array([1, 2]), 0)).toBe(false);
  });

  it("always and never - every set is pushed, or none", () => {
    const always = new Property("t", "a", { push: "always" });
    const never = new Property("t", "n", { push: "never" });
    expect([1, 1, 1].map((v) => always.update(v, 0))).toEqual([true, true, true]);
    expect([1, 2].map((v) => never.update(v, 0))).toEqual([false, false]);
    expect(never.value).toBe(2);
  });

  it("types - each declared type accepts its values and refuses others with OUTPOST_BAD_REQUEST", () => {
    const cases: [string, unknown[], unknown[]][] = [
      ["number", [1, 1.5, -3], [Number.NaN, "1", null]],
      ["integer", [1, 2n, -7], [1.5, "1", 2n ** 60n]],
      ["boolean", [true, false], [0, "true"]],
      ["string", ["", "x"], [1, null]],
      ["bytes", [new Uint8Array(2)], ["ab", [1]]],
      ["json", [null, [1, "a"], { a: { b: [true] } }], [new Uint8Array(1), 1n, { a: Number.POSITIVE_INFINITY }]],
    ];
    for (const [type, ok, bad] of cases) {
      const p = new Property("t", "x", { type: type as "number" });
      for (const v of ok) expect(() => p.check(v as number), `${type} accepts ${String(v)}`).not.toThrow();
      for (const v of bad) {
        expect(() => p.check(v as number), `${type} refuses ${String(v)}`).toThrow(
          expect.objectContaining({ code: "OUTPOST_BAD_REQUEST" }),
        );
      }
    }
  });

  it("config - a negative deadband is OUTPOST_INVALID_CONFIG", () => {
    expect(() => new Property("t", "x", { deadband: -1 })).toThrow(
      expect.objectContaining({ code: "OUTPOST_INVALID_CONFIG" }),
    );
  });
});

describe("Backoff", () => {
  it("backoff - bound grows by the multiplier up to maxDelayMs, full jitter below it", () => {
    const top = createBackoff({ initialDelayMs: 100, maxDelayMs: 1000, multiplier: 2 }, () => 0.999999);
    expect([1, 2, 3, 4, 5, 10].map((n) => top.delay(n))).toEqual([99, 199, 399, 799, 999, 999]);
    const bottom = createBackoff({ initialDelayMs: 100 }, () => 0);
    expect(bottom.delay(5)).toBe(0);
  });

  it("backoff - nonsensical settings are OUTPOST_INVALID_CONFIG", () => {
    expect(() => createBackoff({ initialDelayMs: 10, maxDelayMs: 5 })).toThrow(
      expect.objectContaining({ code: "OUTPOST_INVALID_CONFIG" }),
    );
  });
});
