import { createHash } from "node:crypto";
import { ErrorCode, OutpostError } from "@outpost/protocol";
import type { AuditEvent, AuditRecord } from "./types.js";

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
  const body: Record<string, unknown> = { seq, time: time.toISOString(), type: event.type, actor: event.actor };
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
