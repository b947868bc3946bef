import { ErrorCode, LimitError } from "./errors.js";
import { DEFAULT_LIMITS } from "./limits.js";

/** Bytes of the big-endian length that precedes each frame on a byte stream. */
export const LENGTH_PREFIX_BYTES = 4;

/** Prefixes one frame with its 4-byte big-endian length, for byte-stream transports. */
export function encodeLengthPrefixed(frame: Uint8Array): Uint8Array {
  if (frame.byteLength > 0xffffffff)
    throw new LimitError(ErrorCode.FrameTooLarge, "frame does not fit a 32-bit length");
  const out = new Uint8Array(LENGTH_PREFIX_BYTES + frame.byteLength);
  new DataView(out.buffer).setUint32(0, frame.byteLength, false);
  out.set(frame, LENGTH_PREFIX_BYTES);
  return out;
}

/** Options of a {@link StreamFrameDecoder}. */
export interface StreamFrameDecoderOptions {
  /** Largest frame accepted; a larger declared length is refused before any allocation. Default 1 MiB. */
  maxFrameBytes?: number;
}

/**
 * Splits a byte stream of length-prefixed frames back into frames, whatever the chunk boundaries.
 * Memory held is at most one frame plus one prefix. After it has thrown, the stream is out of sync
 * and the decoder refuses further input.
 */
export class StreamFrameDecoder {
  private readonly maxFrameBytes: number;
  private readonly prefix = new Uint8Array(LENGTH_PREFIX_BYTES);
  private prefixFill = 0;
  private frame: Uint8Array | undefined;
  private frameFill = 0;
  private failed: LimitError | undefined;

  constructor(options: StreamFrameDecoderOptions = {}) {
    this.maxFrameBytes = options.maxFrameBytes ?? DEFAULT_LIMITS.maxFrameBytes;
  }

  /** Bytes of an incomplete frame (including its prefix) currently held. */
  get bufferedBytes(): number {
    return this.frame ? LENGTH_PREFIX_BYTES + this.frameFill : this.prefixFill;
  }

  /**
   * Feeds one chunk; returns the frames it completed, in order. A frame wholly inside `chunk` is
   * returned as a view of it (do not reuse `chunk` while the frame is in use). Throws LimitError
   * OUTPOST_FRAME_TOO_LARGE when a declared length exceeds maxFrameBytes.
   */
  push(chunk: Uint8Array): Uint8Array[] {
    if (this.failed) throw this.failed;
    const frames: Uint8Array[] = [];
    let at = 0;
    while (at < chunk.byteLength) {
      if (!this.frame) {
        // Fast path: a whole frame inside the chunk is returned as a view, without copying.
        if (this.prefixFill === 0 && chunk.byteLength - at >= LENGTH_PREFIX_BYTES) {
          const length = this.checkLength(readUint32(chunk, at));
          if (chunk.byteLength - at - LENGTH_PREFIX_BYTES >= length) {
            frames.push(chunk.subarray(at + LENGTH_PREFIX_BYTES, at + LENGTH_PREFIX_BYTES + length));
            at += LENGTH_PREFIX_BYTES + length;
            continue;
          }
        }
        const take = Math.min(LENGTH_PREFIX_BYTES - this.prefixFill, chunk.byteLength - at);
        this.prefix.set(chunk.subarray(at, at + take), this.prefixFill);
        this.prefixFill += take;
        at += take;
        if (this.prefixFill < LENGTH_PREFIX_BYTES) break;
        const length = this.checkLength(readUint32(this.prefix, 0));
        this.prefixFill = 0;
        if (length === 0) {
          frames.push(new Uint8Array(0));
          continue;
        }
        this.frame = new Uint8Array(length);
        this.frameFill = 0;
      }
      const take = Math.min(this.frame.byteLength - this.frameFill, chunk.byteLength - at);
      this.frame.set(chunk.subarray(at, at + take), this.frameFill);
      this.frameFill += take;
      at += take;
      if (this.frameFill === this.frame.byteLength) {
        frames.push(this.frame);
        this.frame = undefined;
        this.frameFill = 0;
      }
    }
    return frames;
  }

  private checkLength(length: number): number {
    if (length > this.maxFrameBytes) {
      this.prefixFill = 0;
      this.failed = new LimitError(
        ErrorCode.FrameTooLarge,
        `declared frame length ${length} exceeds maxFrameBytes ${this.maxFrameBytes}`,
      );
      throw this.failed;
    }
    return length;
  }
}

function readUint32(bytes: Uint8Array, at: number): number {
  return ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0;
}
