import { existsSync } from "node:fs";
import type { KeyObject } from "node:crypto";
import { GENESIS_HASH, hashRecord } from "./chain.js";
import { type AuditAnchor, checkpointSignatureValid } from "./checkpoint.js";
import { forEachLine } from "./lines.js";

/** What {@link verifyAuditLog} checks besides the chain itself. */
export interface VerifyAuditOptions {
  /**
   * Public key that must have signed every `audit.checkpoint` record (and the anchor). Without it
   * checkpoint signatures are not checked (`signaturesChecked: false`).
   */
  publicKey?: KeyObject;
  /** A statement kept outside the log: the log must contain record `anchor.seq` with `anchor.hash`. */
  anchor?: AuditAnchor;
}

/** Outcome of {@link verifyAuditLog}. */
export type AuditVerification =
  | {
      ok: true;
      records: number;
      /** Valid signed checkpoints found. */
      checkpoints: number;
      /** Seq of the last record covered by a valid checkpoint (0 when none). */
      signedThrough: number;
      /** Whether checkpoint signatures were checked (a public key was given). */
      signaturesChecked: boolean;
      /** Whether an anchor was given and matched. */
      anchored: boolean;
    }
  | {
      ok: false;
      /** The first record that cannot be trusted. */
      brokenAtSeq: number;
      reason: string;
    };

/**
 * Checks an audit log from its first line and reports the first record that cannot be trusted:
 * - the chain: every line is a record whose seq is one more than the previous, whose prev is the
 *   previous hash (64 zeros first) and whose hash matches its content; this detects an edited,
 *   deleted, inserted or reordered line;
 * - with `publicKey`, every `audit.checkpoint` record: it must state the record just before it
 *   and carry a valid signature. Rewriting records and recomputing every later hash keeps the
 *   chain valid but not the next checkpoint: the log is then reported broken at the first record
 *   after the last valid checkpoint record before it (the first record no signature vouches for);
 * - with `anchor`, the log must reach `anchor.seq` and that record must have `anchor.hash`; this
 *   detects records removed from the end, which leave a valid shorter chain. The anchor's own
 *   signature is checked against `publicKey` when given.
 * Never throws for a bad file; a missing file is reported as broken at seq 0.
 */
export function verifyAuditLog(path: string, options: VerifyAuditOptions = {}): AuditVerification {
  if (!existsSync(path)) return { ok: false, brokenAtSeq: 0, reason: `file not found: ${path}` };
  const { publicKey, anchor } = options;
  if (anchor && publicKey && !checkpointSignatureValid(publicKey, anchor.seq, anchor.hash, anchor.signature)) {
    return { ok: false, brokenAtSeq: 0, reason: "the anchor's signature is not valid for this public key" };
  }
  let expectedSeq = 1;
  let prev = GENESIS_HASH;
  let checkpoints = 0;
  let signedThrough = 0;
  // The last checkpoint record whose signature held: it and everything before it are vouched for.
  let trustedThrough = 0;
  let anchorSeen = false;
  let failure: { brokenAtSeq: number; reason: string } | undefined;
  try {
    forEachLine(path, (line, complete) => {
      const fail = (reason: string, at = expectedSeq) => {
        failure = { brokenAtSeq: at, reason };
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
      if (rec.type === "audit.checkpoint" && publicKey) {
        const d = (rec.details ?? {}) as Record<string, unknown>;
        const states = d.seq === expectedSeq - 1 && d.hash === prev;
        if (!states || !checkpointSignatureValid(publicKey, expectedSeq - 1, prev, d.signature)) {
          return fail(
            `the checkpoint at seq ${expectedSeq} does not match the records before it ` +
              `(${states ? "signature not valid for this key" : "it states another record"}): ` +
              `records ${trustedThrough + 1} to ${expectedSeq - 1} were changed after they were signed`,
            trustedThrough + 1,
          );
        }
        checkpoints += 1;
        signedThrough = expectedSeq - 1;
        trustedThrough = expectedSeq;
      }
      if (anchor && expectedSeq === anchor.seq) {
        if (rec.hash !== anchor.hash) {
          return fail(
            `record ${anchor.seq} differs from the anchor: it or an earlier record was rewritten`,
            Math.min(trustedThrough + 1, anchor.seq),
          );
        }
        anchorSeen = true;
      }
      prev = rec.hash;
      expectedSeq += 1;
      return true;
    });
  } catch (err) {
    return { ok: false, brokenAtSeq: expectedSeq, reason: `cannot read: ${(err as Error).message}` };
  }
  if (failure) return { ok: false, ...failure };
  const records = expectedSeq - 1;
  if (anchor && !anchorSeen) {
    return {
      ok: false,
      brokenAtSeq: expectedSeq,
      reason: `the log ends at seq ${records} but the anchor vouches for seq ${anchor.seq}: records were removed from the end`,
    };
  }
  return {
    ok: true,
    records,
    checkpoints,
    signedThrough,
    signaturesChecked: publicKey !== undefined,
    anchored: anchor !== undefined,
  };
}
