import { ErrorCode, OutpostError, ProtocolError } from "./errors.js";
import { type FileFrame, type FileFrameInit, type FileOpen, wire } from "./messages.js";
import type { Stream } from "./stream.js";
import { uninitializedBytes, varintLength, writeVarint } from "./stream-frame.js";

/** Largest FileFrame record accepted on a "file" stream (a 1 MiB chunk plus its framing). */
export const MAX_FILE_RECORD_BYTES = 1024 * 1024 + 4096;

/** Encodes one FileFrame record: 4-byte big-endian length, then the protobuf bytes. */
export function encodeFileRecord(frame: FileFrameInit): Uint8Array {
  const body = wire.FileFrame.encode(frame).finish();
  const out = new Uint8Array(4 + body.byteLength);
  new DataView(out.buffer).setUint32(0, body.byteLength);
  out.set(body, 4);
  return out;
}

/** FileFrame field 50 (chunk), length-delimited: varint 402. */
const TAG_CHUNK = [0x92, 0x03] as const;
/** FileChunk field 1 (index), varint. */
const TAG_INDEX = 0x08;
/** FileChunk field 2 (sealed), length-delimited. */
const TAG_SEALED = 0x12;

/**
 * The record of FileFrame{chunk: {index, sealed}} as pieces to write in order: a head made here,
 * then `sealed` (the pieces of the sealed chunk, by reference). Byte for byte what
 * {@link encodeFileRecord} makes of the joined chunk, without copying it.
 */
export function encodeFileChunkRecord(index: number, sealed: readonly Uint8Array[]): Uint8Array[] {
  let sealedBytes = 0;
  for (const p of sealed) sealedBytes += p.byteLength;
  const chunk =
    (index !== 0 ? 1 + varintLength(index) : 0) + (sealedBytes > 0 ? 1 + varintLength(sealedBytes) + sealedBytes : 0);
  const body = 2 + varintLength(chunk) + chunk;
  const head = new Uint8Array(4 + body - sealedBytes);
  new DataView(head.buffer).setUint32(0, body);
  let at = 4;
  head[at++] = TAG_CHUNK[0];
  head[at++] = TAG_CHUNK[1];
  at = writeVarint(head, at, chunk);
  if (index !== 0) {
    head[at++] = TAG_INDEX;
    at = writeVarint(head, at, index);
  }
  if (sealedBytes > 0) {
    head[at++] = TAG_SEALED;
    writeVarint(head, at, sealedBytes);
  }
  return [head, ...sealed];
}

/** Encodes a FileOpen as a StreamOpen header. */
export function encodeFileOpen(open: FileOpen): Uint8Array {
  return wire.FileOpen.encode(open).finish();
}

/** Decodes a StreamOpen header as FileOpen; OUTPOST_MALFORMED_FRAME when it is not one. */
export function decodeFileOpen(header: Uint8Array): InstanceType<typeof wire.FileOpen> {
  try {
    return wire.FileOpen.decode(header);
  } catch (cause) {
    throw new ProtocolError(ErrorCode.MalformedFrame, "file stream header is not a FileOpen", { cause });
  }
}

/**
 * Reads FileFrame records from a stream's bytes. `next()` resolves with the next record, or
 * undefined at the peer's fin on a record boundary; a record over {@link MAX_FILE_RECORD_BYTES}
 * or bytes that do not decode are OUTPOST_MALFORMED_FRAME, a fin inside a record
 * OUTPOST_CONNECTION_CLOSED. Stream errors (reset, connection closed) pass through.
 */
export class FileRecordReader {
  private readonly parts: Uint8Array[] = [];
  private buffered = 0;
  private ended = false;
  /**
   * Whether the record `next()` resolved last was joined into a buffer of its own, which the
   * caller may then hand over whole (e.g. transfer to a worker thread) once done with the record.
   */
  lastOwnsBuffer = false;

  constructor(private readonly stream: Stream) {}

  async next(): Promise<FileFrame | undefined> {
    for (;;) {
      const record = this.take();
      if (record) return record;
      if (this.ended) {
        if (this.buffered === 0) return undefined;
        throw new OutpostError(ErrorCode.ConnectionClosed, "file stream ended inside a record");
      }
      const chunk = await this.stream.read();
      if (chunk === undefined) this.ended = true;
      else if (chunk.byteLength > 0) {
        this.parts.push(chunk);
        this.buffered += chunk.byteLength;
      }
    }
  }

  private take(): FileFrame | undefined {
    if (this.buffered < 4) return undefined;
    const head = this.peek(4);
    const length = new DataView(head.buffer, head.byteOffset, 4).getUint32(0);
    if (length > MAX_FILE_RECORD_BYTES)
      throw new ProtocolError(ErrorCode.MalformedFrame, `file record of ${length} bytes is over the limit`);
    if (this.buffered < 4 + length) return undefined;
    this.lastOwnsBuffer = this.parts[0]!.byteLength < 4 + length;
    const bytes = this.consume(4 + length).subarray(4);
    try {
      const frame = wire.FileFrame.decode(bytes);
      if (!frame.body) throw new Error("no body");
      return frame;
    } catch (cause) {
      throw new ProtocolError(ErrorCode.MalformedFrame, "file record does not decode", { cause });
    }
  }

  private peek(n: number): Uint8Array {
    const first = this.parts[0]!;
    if (first.byteLength >= n) return first;
    return concat(this.parts, n);
  }

  private consume(n: number): Uint8Array {
    const first = this.parts[0]!;
    let out: Uint8Array;
    if (first.byteLength >= n) {
      out = first.subarray(0, n);
      if (first.byteLength === n) this.parts.shift();
      else this.parts[0] = first.subarray(n);
    } else {
      out = concat(this.parts, n);
      let left = n;
      while (left > 0) {
        const p = this.parts[0]!;
        if (p.byteLength <= left) {
          left -= p.byteLength;
          this.parts.shift();
        } else {
          this.parts[0] = p.subarray(left);
          left = 0;
        }
      }
    }
    this.buffered -= n;
    return out;
  }
}

function concat(parts: Uint8Array[], n: number): Uint8Array {
  const out = uninitializedBytes(n);
  let at = 0;
  for (const p of parts) {
    if (at >= n) break;
    const take = Math.min(p.byteLength, n - at);
    out.set(take === p.byteLength ? p : p.subarray(0, take), at);
    at += take;
  }
  return out;
}
