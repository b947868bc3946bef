import { describe, expect, it } from "vitest";
import { systemClock } from "../src/clock.js";
import { RequestTable } from "../src/correlation.js";
import { ErrorCode, type OutpostError } from "../src/errors.js";
import { FakeClock } from "./helpers/fake-clock.js";

describe("correlation", () => {
  it("correlation - ids are non-zero, increasing and skip ids in use after wrapping", async () => {
    const table = new RequestTable<string>(new FakeClock());
    expect(table.allocate()).toBe(1);
    expect(table.wasIssued(1)).toBe(true);
    expect(table.wasIssued(2)).toBe(false);
    const id2 = table.allocate();
    void table.register(id2, { timeoutMs: 0 });
    (table as unknown as { next: number }).next = 0xffffffff;
    expect(table.allocate()).toBe(0xffffffff);
    expect(table.allocate()).toBe(1);
    expect(table.allocate()).toBe(3);
    expect(table.wasIssued(1234)).toBe(true);
  });

  it("correlation - system clock timers do not keep the process alive", () => {
    const handle = systemClock.setTimeout(() => undefined, 60_000) as { hasRef(): boolean };
    expect(handle.hasRef()).toBe(false);
    systemClock.clearTimeout(handle);
  });

  it("correlation - timeout rejects once and later resolve is ignored", async () => {
    const clock = new FakeClock();
    const table = new RequestTable<string>(clock);
    const p = table.register(1, { timeoutMs: 50 });
    clock.advance(50);
    await expect(p).rejects.toMatchObject({ code: ErrorCode.Timeout });
    expect(table.resolve(1, "late")).toBe(false);
    expect(table.size).toBe(0);
  });

  it("correlation - abort rejects with AbortError and removes the listener", async () => {
    const table = new RequestTable<string>(new FakeClock());
    const ac = new AbortController();
    const p = table.register(1, { timeoutMs: 0, signal: ac.signal });
    ac.abort(new Error("stop"));
    const err = (await p.catch((e: unknown) => e)) as OutpostError;
    expect(err.code).toBe(ErrorCode.Aborted);
    expect((err.cause as Error).message).toBe("stop");
    const pre = table.register(2, { timeoutMs: 0, signal: ac.signal });
    await expect(pre).rejects.toMatchObject({ code: ErrorCode.Aborted });
    expect(table.size).toBe(0);
  });

  it("correlation - rejectAll carries the cause", async () => {
    const clock = new FakeClock();
    const table = new RequestTable<string>(clock);
    const p = table.register(1, { timeoutMs: 10 });
    const cause = new Error("gone");
    table.rejectAll(cause);
    const err = (await p.catch((e: unknown) => e)) as OutpostError;
    expect(err.code).toBe(ErrorCode.ConnectionClosed);
    expect(err.cause).toBe(cause);
    expect(clock.pendingTimers).toBe(0);
  });
});
