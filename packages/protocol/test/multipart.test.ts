import { describe, expect, it } from "vitest";
import { encodeFrame } from "../src/codec.js";
import { ErrorCode, type ProtocolError } from "../src/errors.js";
import type { Multipart } from "../src/messages.js";
import { MULTIPART_OVERHEAD_BYTES, MultipartAssembler, splitMessage } from "../src/multipart.js";
import { FakeClock } from "./helpers/fake-clock.js";

function bytes(n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + 7) & 0xff;
  return b;
}

function parts(message: Uint8Array, maxFrame = 1024, id = 1): Multipart[] {
  return splitMessage(message, id, maxFrame).map((p) => p.multipart as Multipart);
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as ProtocolError).code;
  }
  return undefined;
}

describe("multipart", () => {
  it("multipart - split parts each encode within maxFrameBytes and reassemble exactly", () => {
    const chunk = 1024 - MULTIPART_OVERHEAD_BYTES;
    for (const size of [1, chunk - 1, chunk, chunk + 1, 3 * chunk, 10_000, 100_000]) {
      const message = bytes(size);
      const split = splitMessage(message, 0xffffffff, 1024);
      expect(split.length).toBe(Math.ceil(size / chunk));
      for (const p of split) expect(encodeFrame(p).byteLength).toBeLessThanOrEqual(1024);
      const asm = new MultipartAssembler({ clock: new FakeClock() });
      let out: Uint8Array | undefined;
      for (const p of split) {
        expect(out).toBeUndefined();
        out = asm.push(p.multipart as Multipart);
      }
      expect(out).toEqual(message);
      expect(asm.openSets).toBe(0);
      expect(asm.reservedBytes).toBe(0);
    }
  });

  it("multipart - out-of-order part is invalid", () => {
    const ps = parts(bytes(5000));
    const asm = new MultipartAssembler({ clock: new FakeClock() });
    asm.push(ps[0]!);
    expect(codeOf(() => asm.push(ps[2]!))).toBe(ErrorCode.MultipartInvalid);
    expect(asm.openSets).toBe(0);
  });

  it("multipart - a set must start at index 0", () => {
    const ps = parts(bytes(5000));
    const asm = new MultipartAssembler({ clock: new FakeClock() });
    expect(codeOf(() => asm.push(ps[1]!))).toBe(ErrorCode.MultipartInvalid);
  });

  it("multipart - changed count or total_bytes is invalid", () => {
    const ps = parts(bytes(5000));
    const asm = new MultipartAssembler({ clock: new FakeClock() });
    asm.push(ps[0]!);
    expect(codeOf(() => asm.push({ ...ps[1]!, count: 99 }))).toBe(ErrorCode.MultipartInvalid);
    const asm2 = new MultipartAssembler({ clock: new FakeClock() });
    asm2.push(ps[0]!);
    expect(codeOf(() => asm2.push({ ...ps[1]!, totalBytes: 6000 }))).toBe(ErrorCode.MultipartInvalid);
  });

  it("multipart - more bytes than declared is invalid", () => {
    const asm = new MultipartAssembler({ clock: new FakeClock() });
    const p = { messageId: 1, index: 0, count: 2, totalBytes: 10, payload: bytes(11) };
    expect(codeOf(() => asm.push(p))).toBe(ErrorCode.MultipartInvalid);
  });

  it("multipart - fewer bytes than declared at the last part is invalid", () => {
    const asm = new MultipartAssembler({ clock: new FakeClock() });
    asm.push({ messageId: 1, index: 0, count: 2, totalBytes: 10, payload: bytes(3) });
    expect(codeOf(() => asm.push({ messageId: 1, index: 1, count: 2, totalBytes: 10, payload: bytes(3) }))).toBe(
      ErrorCode.MultipartInvalid,
    );
    expect(asm.reservedBytes).toBe(0);
  });

  it("multipart - zero message id, empty payload and impossible count are invalid", () => {
    const asm = new MultipartAssembler({ clock: new FakeClock() });
    expect(codeOf(() => asm.push({ messageId: 0, index: 0, count: 1, totalBytes: 1, payload: bytes(1) }))).toBe(
      ErrorCode.MultipartInvalid,
    );
    expect(codeOf(() => asm.push({ messageId: 1, index: 0, count: 1, totalBytes: 1 }))).toBe(
      ErrorCode.MultipartInvalid,
    );
    expect(codeOf(() => asm.push({ messageId: 1, index: 0, count: 5, totalBytes: 4, payload: bytes(1) }))).toBe(
      ErrorCode.MultipartInvalid,
    );
    expect(asm.openSets).toBe(0);
  });

  it("multipart - declared size over maxMessageBytes is refused", () => {
    const asm = new MultipartAssembler({ clock: new FakeClock(), maxMessageBytes: 4096 });
    expect(codeOf(() => asm.push({ messageId: 1, index: 0, count: 2, totalBytes: 4097, payload: bytes(10) }))).toBe(
      ErrorCode.LimitExceeded,
    );
  });

  it("multipart - open sets share one memory budget", () => {
    const asm = new MultipartAssembler({ clock: new FakeClock(), maxMessageBytes: 4096 });
    asm.push({ messageId: 1, index: 0, count: 2, totalBytes: 3000, payload: bytes(10) });
    expect(asm.reservedBytes).toBe(3000);
    expect(codeOf(() => asm.push({ messageId: 2, index: 0, count: 2, totalBytes: 2000, payload: bytes(10) }))).toBe(
      ErrorCode.LimitExceeded,
    );
  });

  it("multipart - at most maxOpenSets sets at once", () => {
    const asm = new MultipartAssembler({ clock: new FakeClock(), maxOpenSets: 2 });
    asm.push({ messageId: 1, index: 0, count: 2, totalBytes: 20, payload: bytes(10) });
    asm.push({ messageId: 2, index: 0, count: 2, totalBytes: 20, payload: bytes(10) });
    expect(codeOf(() => asm.push({ messageId: 3, index: 0, count: 2, totalBytes: 20, payload: bytes(10) }))).toBe(
      ErrorCode.LimitExceeded,
    );
    expect(asm.push({ messageId: 2, index: 1, count: 2, totalBytes: 20, payload: bytes(10) })?.byteLength).toBe(20);
  });

  it("multipart - an incomplete set expires and frees its reservation", () => {
    const clock = new FakeClock();
    const expired: ProtocolError[] = [];
    const asm = new MultipartAssembler({ clock, expiryMs: 1000, onExpired: (e) => expired.push(e) });
    asm.push({ messageId: 7, index: 0, count: 2, totalBytes: 20, payload: bytes(10) });
    clock.advance(999);
    expect(expired).toHaveLength(0);
    clock.advance(1);
    expect(expired.map((e) => e.code)).toEqual([ErrorCode.MultipartExpired]);
    expect(asm.openSets).toBe(0);
    expect(asm.reservedBytes).toBe(0);
  });

  it("multipart - a completed set cancels its expiry timer", () => {
    const clock = new FakeClock();
    const asm = new MultipartAssembler({ clock, onExpired: () => expect.fail("must not expire") });
    for (const p of parts(bytes(3000))) asm.push(p);
    expect(clock.pendingTimers).toBe(0);
    clock.advance(60_000);
  });
});
