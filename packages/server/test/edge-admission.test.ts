import { EventEmitter } from "node:events";
import type { Socket } from "node:net";
import { describe, expect, it } from "vitest";
import { Admission, type AdmissionPressure } from "../src/edge/admission.js";
import { defaultMaxConnections, openFileLimit } from "../src/edge/fd-limit.js";

class FakeSocket extends EventEmitter {
  destroyed = false;
  reset = false;
  destroy(): this {
    if (!this.destroyed) {
      this.destroyed = true;
      this.emit("close");
    }
    return this;
  }
  resetAndDestroy(): this {
    this.reset = true;
    return this.destroy();
  }
}

function setup(limits: { maxInProgress: number; maxQueued: number; queueTimeoutMs?: number; maxConnections?: number }) {
  let now = 0;
  const started: FakeSocket[] = [];
  const reports: AdmissionPressure[] = [];
  let live = 0;
  let peak = 0;
  const admission = new Admission({
    maxInProgress: limits.maxInProgress,
    maxQueued: limits.maxQueued,
    queueTimeoutMs: limits.queueTimeoutMs ?? 5_000,
    maxConnections: limits.maxConnections ?? Number.POSITIVE_INFINITY,
    now: () => now,
    start: (s) => {
      started.push(s as unknown as FakeSocket);
      live = admission.inProgress;
      peak = Math.max(peak, live);
    },
    onPressure: (p) => reports.push(p),
  });
  const offer = (): FakeSocket => {
    const s = new FakeSocket();
    admission.offer(s as unknown as Socket);
    return s;
  };
  return {
    admission,
    started,
    reports,
    offer,
    peak: () => peak,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

describe("edge admission", () => {
  it("admission - at most maxInProgress handshakes run; the rest wait in order and start as slots free", () => {
    const t = setup({ maxInProgress: 2, maxQueued: 100 });
    const sockets = Array.from({ length: 20 }, () => t.offer());
    expect(t.started).toEqual([sockets[0], sockets[1]]);
    expect(t.admission.queued).toBe(18);
    // Authenticated or closed: either frees the slot for the oldest waiting connection.
    t.admission.authenticated(sockets[0] as unknown as Socket);
    sockets[1]!.destroy();
    expect(t.started).toEqual(sockets.slice(0, 4));
    for (let i = 2; i < 20; i++) t.admission.authenticated(sockets[i] as unknown as Socket);
    expect(t.started).toEqual(sockets);
    expect(t.peak()).toBe(2);
    expect(sockets.some((s) => s.reset)).toBe(false);
    t.admission.close();
  });

  it("admission - beyond the queue a connection is reset at once, and the pressure is reported once per interval", () => {
    const t = setup({ maxInProgress: 1, maxQueued: 2 });
    const sockets = Array.from({ length: 10 }, () => t.offer());
    expect(t.started).toHaveLength(1);
    expect(sockets.filter((s) => s.reset)).toHaveLength(7);
    expect(t.reports).toHaveLength(1);
    expect(t.admission.open).toBe(3);
    t.admission.close();
  });

  it("admission - a connection that waited past queueTimeoutMs is reset, not started", () => {
    const t = setup({ maxInProgress: 1, maxQueued: 10, queueTimeoutMs: 1_000 });
    const first = t.offer();
    const late = t.offer();
    t.advance(1_500);
    const fresh = t.offer();
    t.admission.authenticated(first as unknown as Socket);
    expect(late.reset).toBe(true);
    expect(t.started).toEqual([first, fresh]);
    t.admission.close();
  });

  it("admission - a backed-up queue starts its newest connection first; the old ones wait out their time", () => {
    const t = setup({ maxInProgress: 1, maxQueued: 10, queueTimeoutMs: 1_000 });
    const first = t.offer();
    const old = [t.offer(), t.offer()];
    t.advance(600);
    const fresh = [t.offer(), t.offer()];
    t.admission.authenticated(first as unknown as Socket);
    expect(t.started).toEqual([first, fresh[1]]);
    t.admission.authenticated(fresh[1] as unknown as Socket);
    expect(t.started).toEqual([first, fresh[1], fresh[0]]);
    t.advance(500);
    t.admission.authenticated(fresh[0] as unknown as Socket);
    expect(old.every((s) => s.reset)).toBe(true);
    expect(t.admission.queued).toBe(0);
    t.admission.close();
  });

  it("admission - open connections beyond maxConnections are reset at accept; a closed one makes room", () => {
    const t = setup({ maxInProgress: 10, maxQueued: 10, maxConnections: 2 });
    const a = t.offer();
    t.offer();
    const c = t.offer();
    expect(c.reset).toBe(true);
    a.destroy();
    const d = t.offer();
    expect(d.reset).toBe(false);
    expect(t.started).toContain(d);
    t.admission.close();
  });

  it("admission - the default connection cap keeps file descriptors in reserve", () => {
    const limits =
      "Limit  Soft Limit  Hard Limit  Units\nMax open files            20000                20000                files\n";
    expect(openFileLimit(() => limits)).toBe(20_000);
    expect(defaultMaxConnections(20_000)).toBe(19_744);
    expect(openFileLimit(() => "Max open files  unlimited  unlimited  files")).toBeUndefined();
    expect(defaultMaxConnections(undefined)).toBe(Number.POSITIVE_INFINITY);
  });
});
