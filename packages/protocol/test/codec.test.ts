import { describe, expect, it } from "vitest";
import { decodeFrame, encodeFrame, utf8Length } from "../src/codec.js";
import { ErrorCode } from "../src/errors.js";
import { DEFAULT_LIMITS } from "../src/limits.js";

describe("codec", () => {
  it("codec - string limit counts UTF-8 bytes, not characters", () => {
    const limits = { ...DEFAULT_LIMITS, maxStringBytes: 3000 };
    const fits = encodeFrame({ auth: { appKey: "€".repeat(1000) } });
    expect(decodeFrame(fits, limits).auth?.appKey).toHaveLength(1000);
    const over = encodeFrame({ auth: { appKey: "€".repeat(1001) } });
    expect(() => decodeFrame(over, limits)).toThrow(expect.objectContaining({ code: ErrorCode.LimitExceeded }));
    expect(() => decodeFrame(encodeFrame({ auth: { appKey: "a".repeat(3001) } }), limits)).toThrow(
      expect.objectContaining({ code: ErrorCode.LimitExceeded }),
    );
  });

  it("codec - map keys and batch sizes are limited", () => {
    const limits = { ...DEFAULT_LIMITS, maxBatch: 2, maxStringBytes: 1024 };
    const params = { a: {}, b: {}, c: {} };
    expect(() => decodeFrame(encodeFrame({ serviceInvoke: { thing: "t", params } }), limits)).toThrow(
      expect.objectContaining({ code: ErrorCode.LimitExceeded }),
    );
    const key = "k".repeat(1025);
    expect(() => decodeFrame(encodeFrame({ event: { data: { [key]: {} } } }), limits)).toThrow(
      expect.objectContaining({ code: ErrorCode.LimitExceeded }),
    );
    expect(() => decodeFrame(encodeFrame({ bind: { things: ["a", "b", "c"] } }), limits)).toThrow(
      expect.objectContaining({ code: ErrorCode.LimitExceeded }),
    );
  });

  it("codec - utf8Length matches Buffer.byteLength", () => {
    for (const s of ["", "abc", "é", "€", "😀", "a😀b€é", "\ud800x"]) expect(utf8Length(s)).toBe(Buffer.byteLength(s));
  });
});
