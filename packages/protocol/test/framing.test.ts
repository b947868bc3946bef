import { describe, expect, it } from "vitest";
import { ErrorCode } from "../src/errors.js";
import { encodeLengthPrefixed, StreamFrameDecoder } from "../src/framing.js";

function frame(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (seed + i * 13) & 0xff;
  return b;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

const frames = [frame(0, 1), frame(1, 2), frame(3, 3), frame(4, 4), frame(300, 5), frame(5000, 6)];
const stream = concat(frames.map(encodeLengthPrefixed));

describe("framing", () => {
  it("framing - prefix is 4-byte big-endian length", () => {
    expect([...encodeLengthPrefixed(new Uint8Array([9, 8, 7]))]).toEqual([0, 0, 0, 3, 9, 8, 7]);
    expect([...encodeLengthPrefixed(frame(0x01020304 & 0xffff, 0)).subarray(0, 4)]).toEqual([0, 0, 0x03, 0x04]);
  });

  it("framing - whole stream in one chunk yields every frame", () => {
    const out = new StreamFrameDecoder().push(stream);
    expect(out).toEqual(frames);
  });

  it("framing - byte-by-byte feeding yields the same frames", () => {
    const dec = new StreamFrameDecoder();
    const out: Uint8Array[] = [];
    for (let i = 0; i < stream.byteLength; i++) out.push(...dec.push(stream.subarray(i, i + 1)));
    expect(out).toEqual(frames);
    expect(dec.bufferedBytes).toBe(0);
  });

  it("framing - every chunk size from 2 to 17 yields the same frames", () => {
    for (let size = 2; size <= 17; size++) {
      const dec = new StreamFrameDecoder();
      const out: Uint8Array[] = [];
      for (let i = 0; i < stream.byteLength; i += size) out.push(...dec.push(stream.subarray(i, i + size)));
      expect(out).toEqual(frames);
    }
  });

  it("framing - declared length over maxFrameBytes is refused before allocating", () => {
    const dec = new StreamFrameDecoder({ maxFrameBytes: 1024 });
    expect(() => dec.push(new Uint8Array([0xff, 0xff]))).not.toThrow();
    expect(() => dec.push(new Uint8Array([0xff, 0xff]))).toThrow(
      expect.objectContaining({ code: ErrorCode.FrameTooLarge }),
    );
    expect(dec.bufferedBytes).toBe(0);
    expect(() => dec.push(new Uint8Array([0]))).toThrow(expect.objectContaining({ code: ErrorCode.FrameTooLarge }));
  });

  it("framing - a frame of exactly maxFrameBytes is accepted", () => {
    const dec = new StreamFrameDecoder({ maxFrameBytes: 1024 });
    expect(dec.push(encodeLengthPrefixed(frame(1024, 1)))[0]?.byteLength).toBe(1024);
    expect(() => dec.push(encodeLengthPrefixed(frame(1025, 1)))).toThrow(
      expect.objectContaining({ code: ErrorCode.FrameTooLarge }),
    );
  });

  it("framing - an incomplete frame is held until the rest arrives", () => {
    const dec = new StreamFrameDecoder();
    const enc = encodeLengthPrefixed(frame(100, 9));
    expect(dec.push(enc.subarray(0, 50))).toEqual([]);
    expect(dec.bufferedBytes).toBe(50);
    expect(dec.push(enc.subarray(50))).toEqual([frame(100, 9)]);
  });
});
