import { crc32 } from "node:zlib";
import type { WireValue } from "@outpost/protocol";
import type { QueueItem } from "./types.js";

/** Bytes before each record's payload: length (u32 LE) and CRC-32 of the payload (u32 LE). */
export const RECORD_HEADER_BYTES = 8;

/** A decoded record and where the next one starts. */
export interface DecodedRecord {
  item: QueueItem;
  /** Bytes the record took (header and payload). */
  bytes: number;
}

/** Why {@link decodeRecord} stopped: the data ends mid-record ("torn") or does not check ("corrupt"). */
export type RecordProblem = "torn" | "corrupt";

/** One record: header then the item as JSON (bytes values as base64, special numbers spelled out). */
export function encodeRecord(item: QueueItem): Buffer {
  const payload = Buffer.from(JSON.stringify(toJson(item)), "utf8");
  const out = Buffer.allocUnsafe(RECORD_HEADER_BYTES + payload.length);
  out.writeUInt32LE(payload.length, 0);
  out.writeUInt32LE(crc32(payload), 4);
  payload.copy(out, RECORD_HEADER_BYTES);
  return out;
}

/**
 * Decodes the record at `offset`. A record that runs past the end of `buf` is "torn"; a record
 * whose checksum or content does not check is "corrupt". Never returns a misread item.
 */
export function decodeRecord(buf: Buffer, offset: number, maxRecordBytes: number): DecodedRecord | RecordProblem {
  if (buf.length - offset < RECORD_HEADER_BYTES) return "torn";
  const len = buf.readUInt32LE(offset);
  if (len === 0 || len > maxRecordBytes) return "corrupt";
  const end = offset + RECORD_HEADER_BYTES + len;
  if (end > buf.length) return "torn";
  const payload = buf.subarray(offset + RECORD_HEADER_BYTES, end);
  if (crc32(payload) !== buf.readUInt32LE(offset + 4)) return "corrupt";
  try {
    return { item: fromJson(JSON.parse(payload.toString("utf8")) as JsonItem), bytes: end - offset };
  } catch {
    return "corrupt";
  }
}

type JsonValue = Record<string, unknown>;
interface JsonItem {
  k: "p" | "e";
  s: number;
  t: string;
  n: string;
  ts: number;
  q?: number;
  v?: JsonValue;
  d?: Record<string, JsonValue>;
}

function toJson(item: QueueItem): JsonItem {
  const base = { s: item.seq, t: item.thing, n: item.name, ts: item.timestampMs };
  if (item.kind === "property") return { k: "p", ...base, q: item.quality, v: valueToJson(item.value) };
  const d: Record<string, JsonValue> = {};
  for (const [k, v] of Object.entries(item.data)) d[k] = valueToJson(v);
  return { k: "e", ...base, d };
}

function fromJson(j: JsonItem): QueueItem {
  if (!Number.isSafeInteger(j.s) || typeof j.t !== "string" || typeof j.n !== "string") throw new Error("bad record");
  if (j.k === "p") {
    return {
      kind: "property",
      seq: j.s,
      thing: j.t,
      name: j.n,
      value: valueFromJson(j.v ?? {}),
      timestampMs: j.ts,
      quality: j.q ?? 0,
    };
  }
  if (j.k !== "e") throw new Error("bad record kind");
  const data: Record<string, WireValue> = {};
  for (const [k, v] of Object.entries(j.d ?? {})) data[k] = valueFromJson(v);
  return { kind: "event", seq: j.s, thing: j.t, name: j.n, data, timestampMs: j.ts };
}

function valueToJson(v: WireValue): JsonValue {
  const out: JsonValue = {};
  for (const [k, x] of Object.entries(v)) {
    if (x === null || x === undefined || k === "kind") continue;
    if (x instanceof Uint8Array) out[k] = { b64: Buffer.from(x).toString("base64") };
    else if (typeof x === "number" && (!Number.isFinite(x) || Object.is(x, -0)))
      out[k] = { num: String(x === 0 ? "-0" : x) };
    else out[k] = x;
  }
  return out;
}

function valueFromJson(j: JsonValue): WireValue {
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(j)) {
    if (x !== null && typeof x === "object" && "b64" in x)
      out[k] = new Uint8Array(Buffer.from(String(x.b64), "base64"));
    else if (x !== null && typeof x === "object" && "num" in x) out[k] = x.num === "-0" ? -0 : Number(x.num);
    else out[k] = x;
  }
  return out as WireValue;
}
