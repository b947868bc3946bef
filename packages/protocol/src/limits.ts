import { ErrorCode, LimitError } from "./errors.js";

/**
 * Safety limits one side enforces on what it receives. Each side announces its limits in
 * Hello/HelloAck; a sender must respect the receiver's limits.
 */
export interface ProtocolLimits {
  /** Largest single frame accepted, in bytes. Default 1 MiB. Larger messages use multipart. */
  maxFrameBytes: number;
  /** Largest reassembled multipart message, in bytes. Default 16 MiB. */
  maxMessageBytes: number;
  /** Most items in one batch (property values, Things in a bind, service params). Default 1000. */
  maxBatch: number;
  /** Longest string field (names, messages, keys), in UTF-8 bytes. Default 64 KiB. */
  maxStringBytes: number;
  /** Most requests one side may have outstanding at the other. Default 256. */
  maxConcurrentRequests: number;
  /** Initial receive window of each stream, in bytes. Default 256 KiB, at most {@link MAX_STREAM_WINDOW_BYTES}. */
  streamWindow: number;
  /** Receive window of the connection (stream data over all streams), in bytes. Default 1 MiB. */
  connectionWindow: number;
  /** Most streams the peer may have open at us at once. Default 256. */
  maxStreams: number;
}

/** Largest per-stream window a side may announce (16 MiB). */
export const MAX_STREAM_WINDOW_BYTES = 16 * 1024 * 1024;
/** Largest connection window a side may announce (256 MiB). */
export const MAX_CONNECTION_WINDOW_BYTES = 256 * 1024 * 1024;

/** The defaults both sides use when the peer announces 0 (unset) for a limit. */
export const DEFAULT_LIMITS: Readonly<ProtocolLimits> = Object.freeze({
  maxFrameBytes: 1024 * 1024,
  maxMessageBytes: 16 * 1024 * 1024,
  maxBatch: 1000,
  maxStringBytes: 64 * 1024,
  maxConcurrentRequests: 256,
  streamWindow: 256 * 1024,
  connectionWindow: 1024 * 1024,
  maxStreams: 256,
});

/**
 * The stream windows the SDK and the server announce unless configured otherwise: 2 MiB per stream
 * (about 100 MB/s of one stream over a 20 ms round trip) and 8 MiB over all streams of a connection,
 * which is also the most stream data one connection can make the other side hold. Both sides always
 * announce explicit values, so these are not wire defaults: {@link DEFAULT_LIMITS} stays what an
 * unset (0) field means, and a peer that announces less is never sent more than it announced.
 */
export const ANNOUNCED_STREAM_WINDOWS: Readonly<Pick<ProtocolLimits, "streamWindow" | "connectionWindow">> =
  Object.freeze({ streamWindow: 2 * 1024 * 1024, connectionWindow: 8 * 1024 * 1024 });

/** `partial` with its unset (missing, 0) stream windows taken from {@link ANNOUNCED_STREAM_WINDOWS}. */
export function withAnnouncedWindows(partial: Partial<ProtocolLimits> | null | undefined): Partial<ProtocolLimits> {
  return {
    ...partial,
    streamWindow: partial?.streamWindow || ANNOUNCED_STREAM_WINDOWS.streamWindow,
    connectionWindow: partial?.connectionWindow || ANNOUNCED_STREAM_WINDOWS.connectionWindow,
  };
}

/** Smallest frame size a peer may announce; below it even a Hello may not fit. */
export const MIN_FRAME_BYTES = 1024;

/** Fills unset (0 or missing) fields from the defaults and rejects nonsensical values. */
export function resolveLimits(partial: Partial<ProtocolLimits> | null | undefined): ProtocolLimits {
  const out: ProtocolLimits = { ...DEFAULT_LIMITS };
  if (partial) {
    for (const key of Object.keys(DEFAULT_LIMITS) as (keyof ProtocolLimits)[]) {
      const v = partial[key];
      if (v === undefined || v === null || v === 0) continue;
      if (!Number.isSafeInteger(v) || v < 0) {
        throw new LimitError(ErrorCode.LimitExceeded, `limit ${key} must be a positive integer, got ${String(v)}`);
      }
      out[key] = v;
    }
  }
  if (out.streamWindow > MAX_STREAM_WINDOW_BYTES) {
    throw new LimitError(ErrorCode.LimitExceeded, `streamWindow must be at most ${MAX_STREAM_WINDOW_BYTES}`);
  }
  if (out.connectionWindow > MAX_CONNECTION_WINDOW_BYTES) {
    throw new LimitError(ErrorCode.LimitExceeded, `connectionWindow must be at most ${MAX_CONNECTION_WINDOW_BYTES}`);
  }
  if (out.maxFrameBytes < MIN_FRAME_BYTES) {
    throw new LimitError(ErrorCode.LimitExceeded, `maxFrameBytes must be at least ${MIN_FRAME_BYTES}`);
  }
  return out;
}

/** What a sender may send: the smaller of what it is willing to send and what the peer accepts. */
export function negotiateLimits(
  local: ProtocolLimits,
  peer: Partial<ProtocolLimits> | null | undefined,
): ProtocolLimits {
  const p = resolveLimits(peer);
  return {
    maxFrameBytes: Math.min(local.maxFrameBytes, p.maxFrameBytes),
    maxMessageBytes: Math.min(local.maxMessageBytes, p.maxMessageBytes),
    maxBatch: Math.min(local.maxBatch, p.maxBatch),
    maxStringBytes: Math.min(local.maxStringBytes, p.maxStringBytes),
    maxConcurrentRequests: Math.min(local.maxConcurrentRequests, p.maxConcurrentRequests),
    streamWindow: Math.min(local.streamWindow, p.streamWindow),
    connectionWindow: Math.min(local.connectionWindow, p.connectionWindow),
    maxStreams: Math.min(local.maxStreams, p.maxStreams),
  };
}
