import { ErrorCode, OutpostError } from "./errors.js";
import type { WireValue } from "./messages.js";

/** A property, parameter or event value as applications see it. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
/** Any value that can travel: JSON values, 64-bit integers as bigint, and raw bytes. */
export type OutpostValue = JsonValue | bigint | Uint8Array;

/** Converts an application value to its wire form. Integers become int, other numbers double. */
export function toWireValue(value: OutpostValue | undefined): WireValue {
  if (value === null || value === undefined) return {};
  switch (typeof value) {
    case "boolean":
      return { boolValue: value };
    case "number":
      if (Number.isSafeInteger(value)) return { intValue: value };
      if (!Number.isFinite(value)) return { numberValue: value };
      return { numberValue: value };
    case "bigint":
      if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
        throw new OutpostError(ErrorCode.BadRequest, "integer values must fit in 53 bits");
      }
      return { intValue: Number(value) };
    case "string":
      return { stringValue: value };
    case "object":
      if (value instanceof Uint8Array) return { bytesValue: value };
      return { jsonValue: JSON.stringify(value) };
    default:
      throw new OutpostError(ErrorCode.BadRequest, `cannot send a value of type ${typeof value}`);
  }
}

/** Converts a wire value back to an application value. Invalid JSON text is a typed error. */
export function fromWireValue(value: WireValue | null | undefined): OutpostValue {
  if (!value) return null;
  if (value.boolValue !== undefined && value.boolValue !== null) return value.boolValue;
  if (value.intValue !== undefined && value.intValue !== null) return value.intValue;
  if (value.numberValue !== undefined && value.numberValue !== null) return value.numberValue;
  if (value.stringValue !== undefined && value.stringValue !== null) return value.stringValue;
  if (value.bytesValue !== undefined && value.bytesValue !== null) return value.bytesValue;
  if (value.jsonValue !== undefined && value.jsonValue !== null) {
    try {
      return JSON.parse(value.jsonValue) as JsonValue;
    } catch (cause) {
      throw new OutpostError(ErrorCode.BadRequest, "json value is not valid JSON", { cause });
    }
  }
  return null;
}

/** Converts a map of application values (service params, event data) to wire values. */
export function toWireMap(values: Record<string, OutpostValue> | undefined): Record<string, WireValue> {
  const out: Record<string, WireValue> = {};
  if (values) for (const [k, v] of Object.entries(values)) out[k] = toWireValue(v);
  return out;
}

/** Converts a map of wire values back to application values. */
export function fromWireMap(values: Record<string, WireValue> | null | undefined): Record<string, OutpostValue> {
  const out: Record<string, OutpostValue> = {};
  if (values) for (const [k, v] of Object.entries(values)) out[k] = fromWireValue(v);
  return out;
}
