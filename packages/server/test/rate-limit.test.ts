import { isOutpostError } from "@outpost/protocol";
import { describe, expect, it } from "vitest";
import { FailureLimiter } from "../src/auth/rate-limit.js";

describe("rate-limit", () => {
  it("rate-limit - blocks after maxFailures inside the window", () => {
    const l = new FailureLimiter({ maxFailures: 3, windowMs: 1000, blockMs: 5000 });
    expect(l.recordFailure("ip:1", 0)).toBe(false);
    expect(l.recordFailure("ip:1", 10)).toBe(false);
    expect(l.isBlocked("ip:1", 10)).toBe(false);
    expect(l.recordFailure("ip:1", 20)).toBe(true);
    expect(l.isBlocked("ip:1", 20)).toBe(true);
    expect(l.retryAfterMs("ip:1", 20)).toBe(5000);
    expect(l.isBlocked("ip:2", 20)).toBe(false);
  });

  it("rate-limit - block ends after blockMs", () => {
    const l = new FailureLimiter({ maxFailures: 2, windowMs: 1000, blockMs: 3000 });
    l.recordFailure("k", 0);
    l.recordFailure("k", 1);
    expect(l.isBlocked("k", 3000)).toBe(true);
    expect(l.isBlocked("k", 3001)).toBe(false);
    expect(l.retryAfterMs("k", 3001)).toBe(0);
  });

  it("rate-limit - failures spread over separate windows do not block", () => {
    const l = new FailureLimiter({ maxFailures: 3, windowMs: 1000, blockMs: 5000 });
    for (let i = 0; i < 10; i++) expect(l.recordFailure("k", i * 600)).toBe(false);
  });

  it("rate-limit - success clears the failures", () => {
    const l = new FailureLimiter({ maxFailures: 2 });
    l.recordFailure("k", 0);
    l.recordSuccess("k");
    expect(l.recordFailure("k", 1)).toBe(false);
    expect(l.size).toBe(1);
  });

  it("rate-limit - memory is bounded and the least recently failed key is evicted", () => {
    const l = new FailureLimiter({ maxFailures: 2, maxEntries: 3 });
    l.recordFailure("a", 0);
    l.recordFailure("b", 0);
    l.recordFailure("c", 0);
    l.recordFailure("a", 1); // a is now the most recent
    l.recordFailure("d", 2); // evicts b
    expect(l.size).toBe(3);
    expect(l.isBlocked("a", 2)).toBe(true);
    expect(l.recordFailure("b", 3)).toBe(false);
    for (let i = 0; i < 1000; i++) l.recordFailure(`x${i}`, 4);
    expect(l.size).toBe(3);
  });

  it("rate-limit - invalid options are a typed config error", () => {
    expect.assertions(2);
    try {
      new FailureLimiter({ maxFailures: 0 });
    } catch (e) {
      expect(isOutpostError(e, "OUTPOST_INVALID_CONFIG")).toBe(true);
      expect((e as Error).message).toContain("maxFailures");
    }
  });
});
