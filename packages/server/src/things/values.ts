import { ErrorCode, OutpostError, type OutpostValue, Quality } from "@outpost/protocol";
import type { PropertyState } from "../registry/types.js";

/** Property quality as the server stores and reports it. */
export type QualityName = PropertyState["quality"];

/** The wire quality enum as a name. */
export function qualityName(q: number | null | undefined): QualityName {
  if (q === Quality.BAD) return "bad";
  if (q === Quality.UNCERTAIN) return "uncertain";
  return "good";
}

/** A quality name as the wire enum. */
export function qualityWire(q: QualityName): Quality {
  return q === "bad" ? Quality.BAD : q === "uncertain" ? Quality.UNCERTAIN : Quality.GOOD;
}

/**
 * An application value as JSON: bytes become `{"$bytes": "<base64>"}`, 64-bit integers become
 * numbers. This is the form the registry stores and the operator API speaks.
 */
export function toJsonValue(value: OutpostValue): unknown {
  if (value instanceof Uint8Array) return { $bytes: Buffer.from(value).toString("base64") };
  if (typeof value === "bigint") return Number(value);
  return value;
}

/** The inverse of {@link toJsonValue}. Values that JSON cannot hold are a typed error. */
export function fromJsonValue(value: unknown): OutpostValue {
  if (value === undefined) throw new OutpostError(ErrorCode.BadRequest, "value is missing");
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    const keys = Object.keys(value);
    const bytes = (value as { $bytes?: unknown }).$bytes;
    if (keys.length === 1 && typeof bytes === "string") return new Uint8Array(Buffer.from(bytes, "base64"));
  }
  if (typeof value === "number" && !Number.isFinite(value)) {
    throw new OutpostError(ErrorCode.BadRequest, "value must be a finite number");
  }
  return value as OutpostValue;
}
