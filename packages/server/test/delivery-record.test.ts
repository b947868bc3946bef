import { describe, expect, it } from "vitest";
import { type DeliveryRecord, emptyRecord, lastRun, markApplied, seqState } from "../src/registry/delivery.js";

function applied(seqs: number[], maxRuns?: number): DeliveryRecord {
  const record = emptyRecord();
  for (const s of seqs) markApplied(record, s, maxRuns);
  return record;
}

describe("delivery record", () => {
  it("delivery record - applied seqs merge into runs in any order", () => {
    expect(applied([1, 2, 3]).runs).toEqual([[1, 3]]);
    expect(applied([5, 3, 4, 1]).runs).toEqual([
      [1, 1],
      [3, 5],
    ]);
    expect(applied([1, 3, 2]).runs).toEqual([[1, 3]]);
    expect(applied([2, 2, 2]).runs).toEqual([[2, 2]]);
  });

  it("delivery record - only applied seqs read as applied, the gaps between runs stay new", () => {
    const record = applied([1, 2, 4, 10]);
    expect([1, 2, 3, 4, 5, 9, 10, 11].map((s) => seqState(record, s))).toEqual([
      "applied",
      "applied",
      "new",
      "applied",
      "new",
      "new",
      "applied",
      "new",
    ]);
    expect(lastRun(record)).toEqual([10, 10]);
    expect(lastRun(emptyRecord())).toBeUndefined();
  });

  it("delivery record - beyond the run limit the oldest run is forgotten and its seqs become unknown", () => {
    const record = applied([1, 3, 5, 7], 3);
    expect(record.runs).toEqual([
      [3, 3],
      [5, 5],
      [7, 7],
    ]);
    expect(record.base).toBe(1);
    expect(seqState(record, 1)).toBe("unknown");
    expect(seqState(record, 2)).toBe("new");
    expect(seqState(record, 3)).toBe("applied");
  });
});
