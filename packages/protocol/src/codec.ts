import { ErrorCode, LimitError, OutpostError, ProtocolError } from "./errors.js";
import { DEFAULT_LIMITS, type ProtocolLimits } from "./limits.js";
import { type Envelope, type EnvelopeInit, wire } from "./messages.js";

/**
 * Encodes one envelope to the bytes of one frame. Does not split: see multipart for that. A 64-bit
 * field outside ±(2^53−1) (or negative where unsigned) is refused with OUTPOST_BAD_REQUEST rather
 * than rounded; so is any other value the schema cannot carry.
 */
export function encodeFrame(envelope: EnvelopeInit): Uint8Array {
  try {
    return wire.Envelope.encode(envelope).finish();
  } catch (cause) {
    throw new OutpostError(ErrorCode.BadRequest, `envelope cannot be encoded: ${describe(cause)}`, { cause });
  }
}

/**
 * Decodes one frame and checks it against `limits`. Never throws anything but a ProtocolError
 * (or its subclass LimitError): bad bytes from the network must only ever close a connection. A
 * 64-bit integer outside ±(2^53−1) is OUTPOST_MALFORMED_FRAME, never a rounded number.
 */
export function decodeFrame(bytes: Uint8Array, limits: ProtocolLimits = DEFAULT_LIMITS): Envelope {
  if (bytes.byteLength > limits.maxFrameBytes) {
    throw new LimitError(
      ErrorCode.FrameTooLarge,
      `frame of ${bytes.byteLength} bytes exceeds maxFrameBytes ${limits.maxFrameBytes}`,
    );
  }
  let envelope: Envelope;
  try {
    envelope = wire.Envelope.decode(bytes);
  } catch (cause) {
    throw new ProtocolError(ErrorCode.MalformedFrame, `malformed frame: ${describe(cause)}`, { cause });
  }
  if (!envelope.body) throw new ProtocolError(ErrorCode.MalformedFrame, "frame has no body");
  checkLimits(envelope, limits, 0);
  return envelope;
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

const MAX_DEPTH = 8;

/** Walks the decoded message: strings, repeated fields and maps must respect the limits. */
function checkLimits(node: object, limits: ProtocolLimits, depth: number): void {
  if (depth > MAX_DEPTH) throw new ProtocolError(ErrorCode.MalformedFrame, "frame nests too deeply");
  const record = node as Record<string, unknown>;
  if ("$unknowns" in record) delete record.$unknowns;
  for (const key of Object.keys(record)) {
    const v = record[key];
    if (typeof v === "string") {
      if (tooLong(v, limits.maxStringBytes)) {
        throw new LimitError(ErrorCode.LimitExceeded, `field ${key} exceeds maxStringBytes ${limits.maxStringBytes}`);
      }
    } else if (Array.isArray(v)) {
      if (v.length > limits.maxBatch) {
        throw new LimitError(
          ErrorCode.LimitExceeded,
          `field ${key} has ${v.length} items, over maxBatch ${limits.maxBatch}`,
        );
      }
      for (const item of v) {
        if (typeof item === "string") {
          if (tooLong(item, limits.maxStringBytes)) {
            throw new LimitError(ErrorCode.LimitExceeded, `an item of ${key} exceeds maxStringBytes`);
          }
        } else if (item && typeof item === "object" && !(item instanceof Uint8Array)) {
          checkLimits(item, limits, depth + 1);
        }
      }
    } else if (v && typeof v === "object" && !(v instanceof Uint8Array)) {
      if (Object.getPrototypeOf(v) === Object.prototype) {
        const keys = Object.keys(v);
        if (keys.length > limits.maxBatch) {
          throw new LimitError(
            ErrorCode.LimitExceeded,
            `map ${key} has ${keys.length} entries, over maxBatch ${limits.maxBatch}`,
          );
        }
        for (const k of keys) {
          if (tooLong(k, limits.maxStringBytes)) {
            throw new LimitError(ErrorCode.LimitExceeded, `a key of map ${key} exceeds maxStringBytes`);
          }
        }
      }
      checkLimits(v, limits, depth + 1);
    }
  }
}

/** A UTF-16 code unit takes at most 3 UTF-8 bytes, so short strings need no scan. */
function tooLong(s: string, max: number): boolean {
  return s.length * 3 > max && utf8Length(s) > max;
}

/** UTF-8 length of a string, without allocating. */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}
