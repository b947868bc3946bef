import { afterEach, describe, expect, it, vi } from "vitest";
import { KeyTouches } from "../src/registry/key-touches.js";

afterEach(() => vi.useRealTimers());

describe("key touches", () => {
  it("key touches - times recorded within the delay are written in one write, the latest per key", () => {
    vi.useFakeTimers();
    const writes: [string, number][][] = [];
    const touches = new KeyTouches((times) => void writes.push([...times]), 1000);
    touches.touch("k1", 1);
    touches.touch("k2", 2);
    touches.touch("k1", 3);
    expect(writes).toEqual([]);
    expect(touches.lastUsed("k1", null)).toBe(3);
    expect(touches.lastUsed("k9", 7)).toBe(7);
    vi.advanceTimersByTime(1000);
    expect(writes).toEqual([
      [
        ["k1", 3],
        ["k2", 2],
      ],
    ]);
  });

  it("key touches - a failed write keeps the times for the next one, without overwriting newer ones", () => {
    vi.useFakeTimers();
    let fail = true;
    const written: [string, number][] = [];
    const touches = new KeyTouches((times) => {
      if (fail) throw new Error("disk full");
      written.push(...times);
    }, 1000);
    touches.touch("k1", 1);
    touches.touch("k2", 2);
    touches.flush();
    expect(touches.lastUsed("k1", null)).toBe(1);
    touches.touch("k2", 5);
    fail = false;
    vi.advanceTimersByTime(1000);
    expect(written.sort()).toEqual([
      ["k1", 1],
      ["k2", 5],
    ]);
  });
});
