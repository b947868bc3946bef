/**
 * What the server knows of one device queue epoch's delivery (docs/protocol.md §8, Delivery):
 * exactly which seqs it applied, as sorted disjoint inclusive runs, and below which seq it no
 * longer knows. A seq inside a run was applied; a seq above `base` outside every run was not
 * (refused, dropped by the device, or never sent); a seq at or below `base` outside the runs is
 * unknown (its run was forgotten to keep the record bounded).
 */
export interface DeliveryRecord {
  /** Applied seqs as `[from, to]` runs, ascending, disjoint and not adjacent. */
  runs: [number, number][];
  /** Seqs at or below this, outside `runs`, are unknown; 0 when nothing was forgotten. */
  base: number;
}

/** What the record says about one seq. */
export type SeqState = "applied" | "new" | "unknown";

/** Most runs kept per epoch; beyond it the oldest run is forgotten (it moves `base`). */
export const MAX_DELIVERY_RUNS = 64;

/** A record with nothing applied. */
export function emptyRecord(): DeliveryRecord {
  return { runs: [], base: 0 };
}

/** Whether `seq` was applied, was not, or can no longer be told. */
export function seqState(record: DeliveryRecord, seq: number): SeqState {
  const runs = record.runs;
  let lo = 0;
  let hi = runs.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const run = runs[mid]!;
    if (seq < run[0]) hi = mid - 1;
    else if (seq > run[1]) lo = mid + 1;
    else return "applied";
  }
  return seq <= record.base ? "unknown" : "new";
}

/** Records `seq` as applied (merging adjacent runs); forgets the oldest runs beyond `maxRuns`. */
export function markApplied(record: DeliveryRecord, seq: number, maxRuns = MAX_DELIVERY_RUNS): void {
  const runs = record.runs;
  let i = runs.length;
  while (i > 0 && runs[i - 1]![0] > seq) i -= 1;
  const before = runs[i - 1];
  const after = runs[i];
  if (before && seq <= before[1]) return;
  const joinsBefore = before !== undefined && before[1] === seq - 1;
  const joinsAfter = after !== undefined && after[0] === seq + 1;
  if (joinsBefore && joinsAfter) {
    before[1] = after[1];
    runs.splice(i, 1);
  } else if (joinsBefore) before[1] = seq;
  else if (joinsAfter) after[0] = seq;
  else runs.splice(i, 0, [seq, seq]);
  while (runs.length > maxRuns) {
    const oldest = runs.shift()!;
    record.base = Math.max(record.base, oldest[1]);
  }
}

/** The highest run of applied seqs, told to the device at connect; undefined when none. */
export function lastRun(record: DeliveryRecord): readonly [number, number] | undefined {
  return record.runs[record.runs.length - 1];
}
