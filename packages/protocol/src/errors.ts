/**
 * Every error Outpost throws or rejects with is an {@link OutpostError} with a stable string `code`.
 * Codes never change meaning; new ones may be added. docs/errors.md lists them all.
 */
export const ErrorCode = {
  /** A frame could not be decoded (bad protobuf, no body, wrong field types). */
  MalformedFrame: "OUTPOST_MALFORMED_FRAME",
  /** A frame is larger than the receiver's `maxFrameBytes`. */
  FrameTooLarge: "OUTPOST_FRAME_TOO_LARGE",
  /** A batch, string, map or request count exceeded a negotiated limit. */
  LimitExceeded: "OUTPOST_LIMIT_EXCEEDED",
  /** A multipart set is inconsistent (bad index, count or size) or exceeds reassembly memory. */
  MultipartInvalid: "OUTPOST_MULTIPART_INVALID",
  /** A multipart set was not completed before its expiry. */
  MultipartExpired: "OUTPOST_MULTIPART_EXPIRED",
  /** A frame arrived that is not allowed in the connection's current state. */
  UnexpectedFrame: "OUTPOST_UNEXPECTED_FRAME",
  /** The two sides share no protocol version. */
  UnsupportedVersion: "OUTPOST_UNSUPPORTED_VERSION",
  /** A stream-level flow-control rule was broken (data beyond credit, unknown stream). */
  FlowControl: "OUTPOST_FLOW_CONTROL",
  /** No more stream ids or streams are available. */
  TooManyStreams: "OUTPOST_TOO_MANY_STREAMS",
  /** A stream was reset by either side (`StreamResetError.resetCode` says why). */
  StreamReset: "OUTPOST_STREAM_RESET",
  BadRequest: "OUTPOST_BAD_REQUEST",
  Unauthorized: "OUTPOST_UNAUTHORIZED",
  Forbidden: "OUTPOST_FORBIDDEN",
  NotFound: "OUTPOST_NOT_FOUND",
  Timeout: "OUTPOST_TIMEOUT",
  Conflict: "OUTPOST_CONFLICT",
  PayloadTooLarge: "OUTPOST_PAYLOAD_TOO_LARGE",
  TooManyRequests: "OUTPOST_TOO_MANY_REQUESTS",
  Internal: "OUTPOST_INTERNAL",
  NotImplemented: "OUTPOST_NOT_IMPLEMENTED",
  Unavailable: "OUTPOST_UNAVAILABLE",
  /** The operation was cancelled through its AbortSignal. */
  Aborted: "OUTPOST_ABORTED",
  /** The connection closed before the operation completed. */
  ConnectionClosed: "OUTPOST_CONNECTION_CLOSED",
  /** A bounded queue was full and data was dropped according to its overflow policy. */
  QueueOverflow: "OUTPOST_QUEUE_OVERFLOW",
  /** Configuration or options given by the user are invalid. */
  InvalidConfig: "OUTPOST_INVALID_CONFIG",
  /** TLS or certificate failure (untrusted, expired, wrong identity, pin mismatch). */
  Tls: "OUTPOST_TLS",
  /**
   * Authenticated data failed its check: a changed, replayed, reordered or truncated chunk of an
   * end-to-end encrypted transfer or tunnel, or a whole-file checksum mismatch.
   */
  Integrity: "OUTPOST_INTEGRITY",
  /**
   * A file path was refused: it leaves its virtual directory (`..`, absolute, a symlink leading
   * out), holds a NUL, a backslash or an empty segment, names a device, or the vdir is unknown.
   */
  PathRefused: "OUTPOST_PATH_REFUSED",
  /** A file is larger than the receiver's maximum file size. */
  FileTooLarge: "OUTPOST_FILE_TOO_LARGE",
  /** The target file system has less free space than the file needs. */
  InsufficientSpace: "OUTPOST_INSUFFICIENT_SPACE",
  /** The HTTP proxy refused the connection's credentials or asked for some (HTTP 407). */
  ProxyAuth: "OUTPOST_PROXY_AUTH",
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Options for {@link OutpostError}: the standard `cause`, plus the wire status when known. */
export interface OutpostErrorOptions extends ErrorOptions {
  /** CoAP/HTTP-like status that travels on the wire for this error (see status.ts). */
  status?: number;
}

/** Base class of all Outpost errors. */
export class OutpostError extends Error {
  /** Stable, documented code, e.g. `OUTPOST_FORBIDDEN`. */
  readonly code: ErrorCode;
  /** Wire status associated with this error, when it came from or goes to the wire. */
  readonly status: number | undefined;

  constructor(code: ErrorCode, message: string, options: OutpostErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.status = options.status;
  }
}

/** Bad bytes or a broken rule from the peer: the connection that produced it is closed. */
export class ProtocolError extends OutpostError {}

/** A limit was exceeded (frame size, batch size, string length, concurrency, reassembly memory). */
export class LimitError extends ProtocolError {}

/** A request failed with a non-success status returned by the peer. */
export class RemoteError extends OutpostError {}

/** A request or operation did not complete in time. */
export class TimeoutError extends OutpostError {
  constructor(message: string, options: OutpostErrorOptions = {}) {
    super(ErrorCode.Timeout, message, { status: 408, ...options });
  }
}

/** An operation was cancelled through its AbortSignal. */
export class AbortError extends OutpostError {
  constructor(message = "operation aborted", options: OutpostErrorOptions = {}) {
    super(ErrorCode.Aborted, message, options);
  }
}

/** The connection closed before the operation completed. */
export class ConnectionClosedError extends OutpostError {
  constructor(message = "connection closed", options: OutpostErrorOptions = {}) {
    super(ErrorCode.ConnectionClosed, message, options);
  }
}

/** True when `err` is an OutpostError with the given code (works across package copies). */
export function isOutpostError(err: unknown, code?: ErrorCode): err is OutpostError {
  if (!(err instanceof Error)) return false;
  const c = (err as { code?: unknown }).code;
  if (typeof c !== "string" || !c.startsWith("OUTPOST_")) return false;
  return code === undefined || c === code;
}
