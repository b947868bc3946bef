import { existsSync } from "node:fs";
import { GENESIS_HASH, hashRecord } from "./chain.js";
import { forEachLine } from "./lines.js";

/** Outcome of {@link verifyAuditLog}. `brokenAtSeq` is the sequence number where the chain first fails. */
export type AuditVerification = { ok: true; records: number } | { ok: false; brokenAtSeq: number; reason: string };

/**
 * Checks a hash-chained audit log from its first line: every line must be a record whose seq is one
 * more than the previous, whose prev is the previous hash (64 zeros first) and whose hash matches its
 * content. Detects an edited, deleted, inserted or reordered line. Removing lines from the end
 * leaves a valid shorter chain; compare `records` (or the last hash) with a copy kept elsewhere to
 * detect that. Never throws for a bad file; a missing file is reported as broken at seq 0.
 */
export function verifyAuditLog(path: string): AuditVerification {
  if (!existsSync(path)) return { ok: false, brokenAtSeq: 0, reason: `file not found: ${path}` };
  let expectedSeq = 1;
  let prev = GENESIS_HASH;
  let failure: { brokenAtSeq: number; reason: string } | undefined;
  try {
    forEachLine(path, (line, complete) => {
      const fail = (reason: string) => {
        failure = { brokenAtSeq: expectedSeq, reason };
        return false;
      };
      if (!complete) return fail("incomplete last record (no newline) or line too long");
      let rec: Record<string, unknown>;
      try {
        const parsed = JSON.parse(line) as unknown;
        if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed))
          return fail("line is not a JSON object");
        rec = parsed as Record<string, unknown>;
      } catch {
        return fail("line is not valid JSON");
      }
      if (rec.seq !== expectedSeq) return fail(`expected seq ${expectedSeq}, found ${JSON.stringify(rec.seq)}`);
      if (rec.prev !== prev) return fail("prev does not match the previous record's hash");
      if (typeof rec.hash !== "string" || rec.hash !== hashRecord(rec)) return fail("hash does not match the record");
      prev = rec.hash;
      expectedSeq += 1;
      return true;
    });
  } catch (err) {
    return { ok: false, brokenAtSeq: expectedSeq, reason: `cannot read: ${(err as Error).message}` };
  }
  if (failure) return { ok: false, ...failure };
  return { ok: true, records: expectedSeq - 1 };
}
