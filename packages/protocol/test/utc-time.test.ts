import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { httpDate, isoTime } from "../src/utc-time.js";

const MAX_MS = 8.64e15;
const EDGES = [
  0,
  -1,
  1,
  999,
  Date.UTC(2024, 1, 29, 23, 59, 59, 999),
  Date.UTC(1999, 11, 31, 23, 59, 59, 999),
  new Date("0000-01-01T00:00:00.000Z").getTime() - 1,
  new Date("0000-01-01T00:00:00.000Z").getTime(),
  new Date("0005-06-07T08:09:10.011Z").getTime(),
  new Date("9999-12-31T23:59:59.999Z").getTime(),
  new Date("+010000-01-01T00:00:00.000Z").getTime(),
  MAX_MS,
  -MAX_MS,
];

describe("utc time - the same text as the Date methods, without V8's time-zone cache", () => {
  it("isoTime is toISOString for any time, as a Date or as milliseconds", () => {
    fc.assert(
      fc.property(fc.integer({ min: -MAX_MS, max: MAX_MS }), (ms) => {
        const expected = new Date(ms).toISOString();
        expect(isoTime(ms)).toBe(expected);
        expect(isoTime(new Date(ms))).toBe(expected);
      }),
      { numRuns: 2000 },
    );
    for (const ms of EDGES) expect(isoTime(ms)).toBe(new Date(ms).toISOString());
  });

  it("httpDate is toUTCString for any time, as a Date or as milliseconds", () => {
    fc.assert(
      fc.property(fc.integer({ min: -MAX_MS, max: MAX_MS }), (ms) => {
        const expected = new Date(ms).toUTCString();
        expect(httpDate(ms)).toBe(expected);
        expect(httpDate(new Date(ms))).toBe(expected);
      }),
      { numRuns: 2000 },
    );
    for (const ms of EDGES) expect(httpDate(ms)).toBe(new Date(ms).toUTCString());
  });

  it("an invalid date: a RangeError from isoTime, as from toISOString; 'Invalid Date' from httpDate", () => {
    expect(() => isoTime(Number.NaN)).toThrow(RangeError);
    expect(() => isoTime(new Date(Number.NaN))).toThrow(RangeError);
    expect(httpDate(Number.NaN)).toBe("Invalid Date");
  });
});
