/**
 * Stream data frames encoded by hand, byte for byte what `encodeFrame({ streamId, streamData })`
 * makes, but from a list of payload parts copied once into the frame: a data frame's payload is
 * never first gathered or passed through the protobuf writer. Decoding needs no counterpart: the
 * generated decoder already returns `data` as a view of the frame.
 */

/** Envelope field 2 (streamId), varint. */
const TAG_STREAM_ID = 0x10;
/** Envelope field 27 (streamData), length-delimited: varint 218. */
const TAG_STREAM_DATA = [0xda, 0x01] as const;
/** StreamData field 1 (data), length-delimited. */
const TAG_DATA = 0x0a;
/** StreamData field 2 (fin), varint. */
const TAG_FIN = 0x10;

/**
 * `n` bytes that are not zeroed first, in an ArrayBuffer of their own (never a shared pool's, so a
 * view of it may be transferred): only for buffers that are filled whole right away, since the
 * memory's earlier content is still there. It saves the zero fill of every data frame and joined
 * record.
 */
export function uninitializedBytes(n: number): Uint8Array {
  return n < 4096 ? new Uint8Array(n) : new Uint8Array(Buffer.allocUnsafeSlow(n).buffer, 0, n);
}

/** Bytes of a protobuf varint of a non-negative safe integer. */
export function varintLength(n: number): number {
  let len = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 0x80);
    len++;
  }
  return len;
}

/** Writes `n` as a protobuf varint at `at`; returns the offset after it. */
export function writeVarint(out: Uint8Array, at: number, n: number): number {
  while (n >= 0x80) {
    out[at++] = (n % 0x80) | 0x80;
    n = Math.floor(n / 0x80);
  }
  out[at++] = n;
  return at;
}

/**
 * One Envelope{streamId, streamData{data, fin}} frame whose data is `parts` in order (`byteLength`
 * their total). The parts are copied once; the caller may reuse them afterwards.
 */
export function encodeStreamDataFrame(
  streamId: number,
  parts: readonly Uint8Array[],
  byteLength: number,
  fin: boolean,
): Uint8Array {
  const inner = (byteLength > 0 ? 1 + varintLength(byteLength) + byteLength : 0) + (fin ? 2 : 0);
  const idBytes = streamId !== 0 ? 1 + varintLength(streamId) : 0;
  const out = uninitializedBytes(idBytes + 2 + varintLength(inner) + inner);
  let at = 0;
  if (streamId !== 0) {
    out[at++] = TAG_STREAM_ID;
    at = writeVarint(out, at, streamId);
  }
  out[at++] = TAG_STREAM_DATA[0];
  out[at++] = TAG_STREAM_DATA[1];
  at = writeVarint(out, at, inner);
  if (byteLength > 0) {
    out[at++] = TAG_DATA;
    at = writeVarint(out, at, byteLength);
    for (const p of parts) {
      out.set(p, at);
      at += p.byteLength;
    }
  }
  if (fin) {
    out[at++] = TAG_FIN;
    out[at++] = 1;
  }
  // The frame is not zeroed first: parts that do not fill it would send what the memory held.
  if (at !== out.byteLength)
    throw new RangeError(`stream data parts hold ${at - (out.byteLength - inner)} bytes, not ${byteLength}`);
  return out;
}
