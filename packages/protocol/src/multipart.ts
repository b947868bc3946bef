import { type Clock, systemClock } from "./clock.js";
import { ErrorCode, LimitError, ProtocolError } from "./errors.js";
import type { EnvelopeInit, Multipart } from "./messages.js";

/**
 * Upper bound of the bytes a Multipart envelope adds around its payload: body tag and length,
 * four uint32 fields with their tags, and the payload's tag and length.
 */
export const MULTIPART_OVERHEAD_BYTES = 40;

/** Most incomplete multipart sets a receiver keeps at once. */
export const MAX_OPEN_MULTIPART_SETS = 4;

/**
 * Splits the encoded bytes of one envelope into Multipart envelopes, each of which encodes to at
 * most `maxFrameBytes`. Parts are numbered 0..count-1 and must be sent in order.
 */
export function splitMessage(encoded: Uint8Array, messageId: number, maxFrameBytes: number): EnvelopeInit[] {
  const chunk = maxFrameBytes - MULTIPART_OVERHEAD_BYTES;
  if (chunk <= 0) throw new LimitError(ErrorCode.LimitExceeded, `maxFrameBytes ${maxFrameBytes} is too small to split`);
  if (messageId <= 0 || messageId > 0xffffffff) throw new RangeError("messageId must be a non-zero uint32");
  const total = encoded.byteLength;
  const count = Math.max(1, Math.ceil(total / chunk));
  const parts: EnvelopeInit[] = [];
  for (let index = 0; index < count; index++) {
    const payload = encoded.subarray(index * chunk, Math.min(total, (index + 1) * chunk));
    parts.push({ multipart: { messageId, index, count, totalBytes: total, payload } });
  }
  return parts;
}

/** Options of a {@link MultipartAssembler}. */
export interface MultipartAssemblerOptions {
  /** Largest reassembled message, and the budget of bytes buffered across all open sets. Default 16 MiB. */
  maxMessageBytes?: number;
  /** How long an incomplete set is kept, ms. Default 30_000. */
  expiryMs?: number;
  /** Most incomplete sets at once. Default {@link MAX_OPEN_MULTIPART_SETS}. */
  maxOpenSets?: number;
  /** Time source for expiry. Default the system clock (unref'd timers). */
  clock?: Clock;
  /** Called once with OUTPOST_MULTIPART_EXPIRED when a set expires; the set is dropped first. */
  onExpired?: (error: ProtocolError) => void;
}

interface OpenSet {
  readonly count: number;
  readonly totalBytes: number;
  /** Received bytes, copied out of their frames; grows by doubling up to totalBytes. */
  buffer: Uint8Array;
  parts: number;
  received: number;
  timer: unknown;
}

/**
 * Reassembles multipart sets with bounded memory. Each set reserves its declared `totalBytes`
 * against the budget when its first part arrives (nothing is allocated up front) and copies parts
 * into one buffer that grows by doubling, so what is held never exceeds the reservation and no
 * frame is kept alive by a small part; parts must
 * arrive in order and agree on `count` and `totalBytes`. Any inconsistency throws a ProtocolError.
 */
/** Shared by every assembler until its first set, never written: most connections never see a multipart message. */
const NO_SETS: ReadonlyMap<number, OpenSet> = new Map();

export class MultipartAssembler {
  private sets = NO_SETS as Map<number, OpenSet>;
  private reserved = 0;
  private held = 0;
  private maxMessageBytes: number;
  private readonly expiryMs: number;
  private readonly maxOpenSets: number;
  private readonly clock: Clock;
  private readonly onExpired: ((error: ProtocolError) => void) | undefined;

  constructor(options: MultipartAssemblerOptions = {}) {
    this.maxMessageBytes = options.maxMessageBytes ?? 16 * 1024 * 1024;
    this.expiryMs = options.expiryMs ?? 30_000;
    this.maxOpenSets = options.maxOpenSets ?? MAX_OPEN_MULTIPART_SETS;
    this.clock = options.clock ?? systemClock;
    this.onExpired = options.onExpired;
  }

  /** Changes the reassembly budget for sets that start from now on; open sets keep their reservation. */
  setMaxMessageBytes(maxMessageBytes: number): void {
    this.maxMessageBytes = maxMessageBytes;
  }

  /** Number of incomplete sets held. */
  get openSets(): number {
    return this.sets.size;
  }

  /** Bytes reserved by incomplete sets. */
  get reservedBytes(): number {
    return this.reserved;
  }

  /** Bytes actually held for incomplete sets (never more than {@link reservedBytes}). */
  get heldBytes(): number {
    return this.held;
  }

  /** Adds one part. Returns the whole encoded message when this part completes its set. */
  push(part: Multipart): Uint8Array | undefined {
    const messageId = part.messageId ?? 0;
    const index = part.index ?? 0;
    const count = part.count ?? 0;
    const totalBytes = part.totalBytes ?? 0;
    const payload = part.payload ?? new Uint8Array(0);
    if (messageId === 0) throw invalid("multipart message_id must be non-zero");
    if (payload.byteLength === 0) throw invalid("multipart payload is empty");
    let set = this.sets.get(messageId);
    if (!set) {
      if (index !== 0) throw invalid(`multipart ${messageId} starts at index ${index}, expected 0`);
      if (totalBytes === 0 || count === 0 || count > totalBytes) {
        throw invalid(`multipart ${messageId} declares count ${count} for ${totalBytes} bytes`);
      }
      if (totalBytes > this.maxMessageBytes) {
        throw new LimitError(
          ErrorCode.LimitExceeded,
          `multipart message of ${totalBytes} bytes exceeds maxMessageBytes ${this.maxMessageBytes}`,
        );
      }
      if (this.sets.size >= this.maxOpenSets) {
        throw new LimitError(ErrorCode.LimitExceeded, `more than ${this.maxOpenSets} multipart sets open at once`);
      }
      if (this.reserved + totalBytes > this.maxMessageBytes) {
        throw new LimitError(ErrorCode.LimitExceeded, "multipart sets exceed the reassembly memory budget");
      }
      set = { count, totalBytes, buffer: new Uint8Array(0), parts: 0, received: 0, timer: undefined };
      const id = messageId;
      set.timer = this.clock.setTimeout(() => this.expire(id), this.expiryMs);
      if (this.sets === NO_SETS) this.sets = new Map();
      this.sets.set(messageId, set);
      this.reserved += totalBytes;
    } else {
      if (count !== set.count || totalBytes !== set.totalBytes) {
        this.drop(messageId, set);
        throw invalid(`multipart ${messageId} changed its count or total_bytes`);
      }
      if (index !== set.parts) {
        this.drop(messageId, set);
        throw invalid(`multipart ${messageId} part ${index} out of order, expected ${set.parts}`);
      }
    }
    if (set.received + payload.byteLength > set.totalBytes) {
      this.drop(messageId, set);
      throw invalid(`multipart ${messageId} carries more than its declared ${set.totalBytes} bytes`);
    }
    set.parts += 1;
    if (set.parts === set.count && set.received === 0) {
      this.drop(messageId, set);
      if (payload.byteLength !== set.totalBytes) {
        throw invalid(`multipart ${messageId} carried ${payload.byteLength} bytes, declared ${set.totalBytes}`);
      }
      return payload;
    }
    // Copy: a payload is a view of its frame, and holding the view would pin the whole frame.
    this.append(set, payload);
    if (set.parts < set.count) return undefined;
    this.drop(messageId, set);
    if (set.received !== set.totalBytes) {
      throw invalid(`multipart ${messageId} carried ${set.received} bytes, declared ${set.totalBytes}`);
    }
    return set.buffer;
  }

  /** Drops every open set and cancels their timers. */
  clear(): void {
    for (const [id, set] of this.sets) this.drop(id, set);
  }

  private append(set: OpenSet, payload: Uint8Array): void {
    const needed = set.received + payload.byteLength;
    if (needed > set.buffer.byteLength) {
      const size = Math.min(set.totalBytes, Math.max(needed, set.buffer.byteLength * 2));
      const grown = new Uint8Array(size);
      grown.set(set.buffer.subarray(0, set.received));
      this.held += size - set.buffer.byteLength;
      set.buffer = grown;
    }
    set.buffer.set(payload, set.received);
    set.received = needed;
  }

  private drop(messageId: number, set: OpenSet): void {
    if (this.sets.get(messageId) !== set) return;
    this.sets.delete(messageId);
    this.reserved -= set.totalBytes;
    this.held -= set.buffer.byteLength;
    this.clock.clearTimeout(set.timer);
  }

  private expire(messageId: number): void {
    const set = this.sets.get(messageId);
    if (!set) return;
    this.drop(messageId, set);
    this.onExpired?.(
      new ProtocolError(
        ErrorCode.MultipartExpired,
        `multipart ${messageId} incomplete after ${this.expiryMs} ms (${set.parts}/${set.count} parts)`,
      ),
    );
  }
}

function invalid(message: string): ProtocolError {
  return new ProtocolError(ErrorCode.MultipartInvalid, message);
}
