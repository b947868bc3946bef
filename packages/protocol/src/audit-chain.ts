import { createHash, type KeyObject, verify } from "node:crypto";
import { ErrorCode, OutpostError } from "./errors.js";
import { isoTime } from "./utc-time.js";

// The hash-chained audit record format shared by the server's audit log and the device's (EMS):
// one JSON object per line, each carrying the previous line's hash. Pure: no file access; the
// callers feed lines in.

/** Kinds of audit records. New kinds may be added; existing ones never change meaning. */
export type AuditType =
  | "login.success"
  | "login.failure"
  | "logout"
  | "denied"
  | "admin.change"
  | "operator.login.failure"
  /** A person's login (POST /api/login) that succeeded; its failures are operator.login.failure. */
  | "operator.login.success"
  /** A username or a source address locked out after repeated failed logins. */
  | "operator.lockout"
  /** A login session or token issued, or revoked (logout, CLI). */
  | "operator.token.create"
  | "operator.token.revoke"
  | "property.write"
  | "service.invoke"
  /** A property write held as desired state, and what became of it (details.outcome). */
  | "property.desired"
  | "file.transfer"
  | "tunnel.session"
  /** Records could not be written for a while (disk full); written when writing works again. */
  | "audit.outage"
  /** A signed checkpoint over the chain so far. */
  | "audit.checkpoint";

/** One audit record as given by the caller; the log adds seq, time and the hash chain. */
export interface AuditEvent {
  type: AuditType;
  /** Who acted: "device:<id>", "operator:<name>", "key:<keyId>" or "system". Never a secret. */
  actor: string;
  /** What was acted on, e.g. "thing:pump-1/property:speed". */
  target?: string;
  outcome: "success" | "failure";
  /** Remote address of the connection, when there is one. */
  source?: string;
  /** Stable error code when outcome is failure. */
  code?: string;
  /** Extra fields (no secrets). */
  details?: Record<string, unknown>;
}

/** A stored record: the event plus sequence, time and the hash chain. */
export interface AuditRecord extends AuditEvent {
  seq: number;
  time: string;
  /** SHA-256 (hex) of the previous record's line; 64 zeros for the first. */
  prev: string;
  /** SHA-256 (hex) over this record without `hash`. */
  hash: string;
}

/**
 * A signed statement "record `seq` of the audit log has hash `hash`" (see the server's
 * audit/checkpoint.ts, which makes them). One valid statement vouches for the log up to `seq`.
 */
export interface AuditAnchor {
  version: 1;
  /** Sequence number of the last record covered. */
  seq: number;
  /** That record's hash. */
  hash: string;
  /** Ed25519 signature (base64) over {@link checkpointMessage}(seq, hash). */
  signature: string;
  /** SHA-256 of the public key (SPKI DER), first 16 hex digits: names the key. */
  keyId: string;
  /** The public key (SPKI PEM) that verifies `signature`. */
  publicKey: string;
  /** When the statement was made (ISO 8601). */
  time: string;
}

/** `prev` of the first record in a chain. */
export const GENESIS_HASH = "0".repeat(64);

/**
 * JSON with object keys sorted at every level and no whitespace: the byte string that is hashed.
 * Two records with the same content always give the same text, whatever order keys were built in.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? "null" : canonicalJson(v))).join(",")}]`;
  const obj = value as Record<string, unknown>;
  const parts: string[] = [];
  for (const key of Object.keys(obj).sort()) {
    const v = obj[key];
    if (v === undefined || typeof v === "function" || typeof v === "symbol") continue;
    parts.push(`${JSON.stringify(key)}:${canonicalJson(v)}`);
  }
  return `{${parts.join(",")}}`;
}

/** SHA-256 (hex) of a record without its `hash` field. */
export function hashRecord(record: Omit<AuditRecord, "hash"> | Record<string, unknown>): string {
  const { hash: _ignored, ...rest } = record as Record<string, unknown>;
  return createHash("sha256").update(canonicalJson(rest), "utf8").digest("hex");
}

/** Builds the next record of a chain: seq, time and prev around a copy of the event, then its hash. */
export function sealRecord(event: AuditEvent, seq: number, time: Date, prev: string): AuditRecord {
  if (!event || typeof event.type !== "string" || typeof event.actor !== "string") {
    throw new OutpostError(ErrorCode.BadRequest, "audit event needs a string type and actor");
  }
  if (event.outcome !== "success" && event.outcome !== "failure") {
    throw new OutpostError(ErrorCode.BadRequest, `audit event outcome must be success or failure`);
  }
  const body: Record<string, unknown> = { seq, time: isoTime(time), type: event.type, actor: event.actor };
  if (event.target !== undefined) body.target = String(event.target);
  body.outcome = event.outcome;
  if (event.source !== undefined) body.source = String(event.source);
  if (event.code !== undefined) body.code = String(event.code);
  if (event.details !== undefined) body.details = plainJson(event.details);
  body.prev = prev;
  const record = body as unknown as AuditRecord;
  record.hash = hashRecord(record);
  return record;
}

// Details are caller-supplied; reduce them to plain JSON so that what is hashed is what is written
// and an odd value (bigint, cycle) never makes an append throw.
function plainJson(details: Record<string, unknown>): Record<string, unknown> {
  try {
    const text = JSON.stringify(details, (_k, v) => (typeof v === "bigint" ? v.toString() : v));
    const parsed = text === undefined ? {} : (JSON.parse(text) as unknown);
    return parsed !== null && typeof parsed === "object" && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : { value: parsed };
  } catch (err) {
    return { unserializable: (err as Error).message };
  }
}

const CHECKPOINT_CONTEXT = "outpost-audit-checkpoint-v1";

/** The exact bytes a checkpoint signs: a context string, the seq and the hash. */
export function checkpointMessage(seq: number, hash: string): Buffer {
  return Buffer.from(`${CHECKPOINT_CONTEXT}\n${seq}\n${hash}`, "utf8");
}

/** Whether `signature` (base64) is a valid Ed25519 signature of "record `seq` has hash `hash`". */
export function checkpointSignatureValid(publicKey: KeyObject, seq: number, hash: string, signature: unknown): boolean {
  if (typeof signature !== "string") return false;
  try {
    return verify(null, checkpointMessage(seq, hash), publicKey, Buffer.from(signature, "base64"));
  } catch {
    return false;
  }
}

/** What {@link verifyAuditChain} checks besides the chain itself. */
export interface VerifyAuditOptions {
  /**
   * Public key that must have signed every `audit.checkpoint` record (and the anchor). Without it
   * checkpoint signatures are not checked (`signaturesChecked: false`).
   */
  publicKey?: KeyObject;
  /** A statement kept outside the log: the log must contain record `anchor.seq` with `anchor.hash`. */
  anchor?: AuditAnchor;
}

/** Outcome of {@link verifyAuditChain}. */
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
 * Feeds every line of a log to `onLine` (`complete` false for a last line without its newline)
 * until it returns false. May throw when the log cannot be read.
 */
export type AuditLineSource = (onLine: (line: string, complete: boolean) => boolean) => void;

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
 * Never throws: a source that throws is reported as "cannot read".
 */
export function verifyAuditChain(lines: AuditLineSource, options: VerifyAuditOptions = {}): AuditVerification {
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
    lines((line, complete) => {
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
