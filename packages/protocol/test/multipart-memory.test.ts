import { describe, expect, it } from "vitest";
import { decodeFrame, encodeFrame } from "../src/codec.js";
import { MultipartAssembler } from "../src/multipart.js";
import { FakeClock } from "./helpers/fake-clock.js";

describe("multipart reassembly memory", () => {
  it("multipart - parts are copied out of their frames, so a held part never pins or aliases a frame", () => {
    const asm = new MultipartAssembler({ clock: new FakeClock() });
    // A 1-byte payload padded with an unknown field: the decoded payload is a view into a 64 KiB frame.
    const frames: Uint8Array[] = [];
    for (let index = 0; index < 3; index++) {
      const frame = new Uint8Array([
        ...encodeFrame({
          multipart: { messageId: 9, index, count: 3, totalBytes: 3, payload: new Uint8Array([65 + index]) },
        }),
        ...unknownField(64 * 1024),
      ]);
      frames.push(frame);
    }
    let whole: Uint8Array | undefined;
    for (const frame of frames) {
      const part = decodeFrame(frame, { ...limits(), maxFrameBytes: 128 * 1024 }).multipart!;
      expect(part.payload!.buffer.byteLength).toBeGreaterThan(64 * 1024);
      whole = asm.push(part);
      expect(asm.heldBytes).toBeLessThanOrEqual(3);
      frame.fill(0); // the transport reuses its buffer
    }
    expect(Array.from(whole!)).toEqual([65, 66, 67]);
  });

  it("multipart - many tiny parts are held in one buffer of at most the declared size", () => {
    const asm = new MultipartAssembler({ clock: new FakeClock() });
    const total = 4096;
    for (let index = 0; index < total - 1; index++) {
      expect(
        asm.push({ messageId: 1, index, count: total, totalBytes: total, payload: new Uint8Array([index & 0xff]) }),
      ).toBeUndefined();
      expect(asm.heldBytes).toBeLessThanOrEqual(total);
    }
    const whole = asm.push({
      messageId: 1,
      index: total - 1,
      count: total,
      totalBytes: total,
      payload: new Uint8Array([0xff]),
    });
    expect(whole?.byteLength).toBe(total);
    expect(whole![100]).toBe(100);
    expect(asm.heldBytes).toBe(0);
  });
});

function limits() {
  return {
    maxFrameBytes: 1024 * 1024,
    maxMessageBytes: 16 * 1024 * 1024,
    maxBatch: 1000,
    maxStringBytes: 65536,
    maxConcurrentRequests: 256,
  };
}

/** An unknown length-delimited field (number 1000) of `n` bytes. */
function unknownField(n: number): number[] {
  const out = [0xc2, 0x3e]; // (1000 << 3) | 2 as a varint
  let len = n;
  while (len >= 0x80) {
    out.push((len & 0x7f) | 0x80);
    len >>>= 7;
  }
  out.push(len);
  return [...out, ...new Array<number>(n).fill(1)];
}
