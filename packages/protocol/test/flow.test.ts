import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ErrorCode, ProtocolError } from "../src/errors.js";
import { ReceiveWindow, SendWindow, StreamIdAllocator, takeCredit } from "../src/flow.js";

const code = (c: string) => expect.objectContaining({ code: c });

describe("flow", () => {
  it("flow - device allocates odd ids, server even ids, never reused", () => {
    const device = new StreamIdAllocator({ side: "device" });
    const server = new StreamIdAllocator({ side: "server" });
    expect([device.allocate(), device.allocate(), device.allocate()]).toEqual([1, 3, 5]);
    expect([server.allocate(), server.allocate()]).toEqual([2, 4]);
    expect(device.release(3)).toBe(true);
    expect(device.release(3)).toBe(false);
    expect(device.allocate()).toBe(7);
    expect(device.openCount).toBe(3);
  });

  it("flow - allocation over maxLocalOpen is OUTPOST_TOO_MANY_STREAMS until a stream closes", () => {
    const a = new StreamIdAllocator({ side: "device", maxLocalOpen: 2 });
    const first = a.allocate();
    a.allocate();
    expect(() => a.allocate()).toThrow(code(ErrorCode.TooManyStreams));
    a.release(first);
    expect(a.allocate()).toBe(5);
  });

  it("flow - exhausted id space is OUTPOST_TOO_MANY_STREAMS", () => {
    const a = new StreamIdAllocator({ side: "server", maxStreamId: 6 });
    for (const id of [2, 4, 6]) {
      expect(a.allocate()).toBe(id);
      a.release(id);
    }
    expect(() => a.allocate()).toThrow(code(ErrorCode.TooManyStreams));
  });

  it("flow - peer stream ids must have the peer's parity and increase", () => {
    const server = new StreamIdAllocator({ side: "server", maxRemoteOpen: 2 });
    server.accept(1);
    expect(server.isOpen(1)).toBe(true);
    expect(() => server.accept(2)).toThrow(code(ErrorCode.FlowControl));
    expect(() => server.accept(1)).toThrow(code(ErrorCode.FlowControl));
    expect(() => server.accept(0)).toThrow(code(ErrorCode.FlowControl));
    server.accept(5);
    expect(() => server.accept(3)).toThrow(code(ErrorCode.FlowControl));
    expect(() => server.accept(7)).toThrow(code(ErrorCode.TooManyStreams));
  });

  it("flow - send window consumes credit and refuses to overdraw", () => {
    const w = new SendWindow(100);
    w.consume(60);
    expect(w.available).toBe(40);
    expect(() => w.consume(41)).toThrow(code(ErrorCode.FlowControl));
    expect(w.take(1000)).toBe(40);
    expect(w.take(10)).toBe(0);
    w.grant(25);
    expect(w.available).toBe(25);
  });

  it("flow - invalid or overflowing grants are peer errors", () => {
    const w = new SendWindow(0x7fffff00);
    expect(() => w.grant(0)).toThrow(ProtocolError);
    expect(() => w.grant(-1)).toThrow(code(ErrorCode.FlowControl));
    expect(() => w.grant(0x100)).toThrow(code(ErrorCode.FlowControl));
    w.grant(0xff);
    expect(w.available).toBe(0x7fffffff);
  });

  it("flow - acquire resolves on grant with the credit taken, rejects on close or abort", async () => {
    const w = new SendWindow(0);
    const waiting = w.acquire(100);
    w.grant(10);
    expect(await waiting).toBe(10);
    expect(w.available).toBe(0);
    const ac = new AbortController();
    const aborted = w.acquire(5, ac.signal);
    ac.abort();
    await expect(aborted).rejects.toMatchObject({ code: ErrorCode.Aborted });
    expect(w.waiting).toBe(0);
    const closing = w.acquire(5);
    w.close(new Error("stream reset"));
    await expect(closing).rejects.toThrow("stream reset");
    await expect(w.acquire(1)).rejects.toThrow("stream reset");
  });

  it("flow - a 1-byte grant wakes one waiter, and credit goes to waiters first come, first served", async () => {
    const w = new SendWindow(0);
    const woken: number[] = [];
    const waiters = [0, 1, 2, 3].map((i) => w.acquire(4).then((n) => woken.push(i * 100 + n)));
    w.grant(1);
    await Promise.resolve();
    await Promise.resolve();
    expect(woken).toEqual([1]);
    expect(w.waiting).toBe(3);
    w.grant(6);
    await Promise.all(waiters.slice(0, 3));
    expect(woken).toEqual([1, 104, 202]);
    expect(w.waiting).toBe(1);
    expect(w.available).toBe(0);
    w.grant(9);
    await Promise.all(waiters);
    expect(woken).toEqual([1, 104, 202, 304]);
    expect(w.available).toBe(5);
  });

  it("flow - the connection window bounds the sum over streams", () => {
    const connection = new SendWindow(100);
    const a = new SendWindow(80);
    const b = new SendWindow(80);
    expect(takeCredit(a, connection, 1000)).toBe(80);
    expect(takeCredit(b, connection, 1000)).toBe(20);
    expect(takeCredit(b, connection, 1000)).toBe(0);
    expect(b.available).toBe(60);
    connection.grant(50);
    expect(takeCredit(a, connection, 1000)).toBe(0);
    expect(takeCredit(b, connection, 10)).toBe(10);
  });

  it("flow - the peer holding its streams open cannot stop us opening ours", () => {
    const device = new StreamIdAllocator({ side: "device", maxLocalOpen: 2, maxRemoteOpen: 2 });
    device.accept(2);
    device.accept(4);
    expect(() => device.accept(6)).toThrow(code(ErrorCode.TooManyStreams));
    expect(device.allocate()).toBe(1);
    expect(device.allocate()).toBe(3);
    expect(() => device.allocate()).toThrow(code(ErrorCode.TooManyStreams));
    expect(device.localOpenCount).toBe(2);
    expect(device.remoteOpenCount).toBe(2);
  });

  it("flow - an id refused for too many streams cannot be used again", () => {
    const server = new StreamIdAllocator({ side: "server", maxRemoteOpen: 1 });
    server.accept(1);
    expect(() => server.accept(3)).toThrow(code(ErrorCode.TooManyStreams));
    server.release(1);
    expect(() => server.accept(3)).toThrow(code(ErrorCode.FlowControl));
    expect(server.wasClosed(3)).toBe(true);
    expect(server.wasClosed(5)).toBe(false);
    server.accept(5);
  });

  it("flow - receive window refuses bytes beyond credit", () => {
    const r = new ReceiveWindow(100);
    r.receive(100);
    expect(r.remaining).toBe(0);
    expect(() => r.receive(1)).toThrow(code(ErrorCode.FlowControl));
  });

  it("flow - receive window grants after half the window is consumed", () => {
    const r = new ReceiveWindow(100);
    r.receive(80);
    expect(r.consume(49)).toBe(0);
    expect(r.consume(1)).toBe(50);
    expect(r.remaining).toBe(70);
    expect(r.buffered).toBe(30);
    expect(() => r.consume(31)).toThrow(code(ErrorCode.FlowControl));
  });

  it("flow - a sender and receiver that follow the rules never overflow the buffer", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10_000 }),
        fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 5000 })), { maxLength: 200 }),
        (window, steps) => {
          const send = new SendWindow(window);
          const recv = new ReceiveWindow(window);
          for (const [sending, amount] of steps) {
            if (sending) {
              const n = send.take(amount);
              recv.receive(n);
            } else {
              const inc = recv.consume(Math.min(amount, recv.buffered));
              if (inc > 0) send.grant(inc);
            }
            expect(recv.buffered).toBeLessThanOrEqual(window);
            expect(send.available).toBe(recv.remaining);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
