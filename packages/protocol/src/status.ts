import { ErrorCode, isOutpostError, type OutpostError, RemoteError, TimeoutError } from "./errors.js";

/** CoAP/HTTP-like status codes carried in Response.status and AuthResult.status. */
export const Status = {
  OK: 200,
  Created: 201,
  Accepted: 202,
  NoContent: 204,
  BadRequest: 400,
  Unauthorized: 401,
  Forbidden: 403,
  NotFound: 404,
  Timeout: 408,
  Conflict: 409,
  Gone: 410,
  PayloadTooLarge: 413,
  TooManyRequests: 429,
  Internal: 500,
  NotImplemented: 501,
  Unavailable: 503,
  GatewayTimeout: 504,
} as const;

export type Status = (typeof Status)[keyof typeof Status];

/** True for 2xx statuses. */
export function isSuccess(status: number): boolean {
  return status >= 200 && status < 300;
}

const codeByStatus: ReadonlyMap<number, ErrorCode> = new Map<number, ErrorCode>([
  [Status.BadRequest, ErrorCode.BadRequest],
  [Status.Unauthorized, ErrorCode.Unauthorized],
  [Status.Forbidden, ErrorCode.Forbidden],
  [Status.NotFound, ErrorCode.NotFound],
  [Status.Timeout, ErrorCode.Timeout],
  [Status.Conflict, ErrorCode.Conflict],
  [Status.Gone, ErrorCode.NotFound],
  [Status.PayloadTooLarge, ErrorCode.PayloadTooLarge],
  [Status.TooManyRequests, ErrorCode.TooManyRequests],
  [Status.Internal, ErrorCode.Internal],
  [Status.NotImplemented, ErrorCode.NotImplemented],
  [Status.Unavailable, ErrorCode.Unavailable],
  [Status.GatewayTimeout, ErrorCode.Timeout],
]);

const statusByCode: ReadonlyMap<string, number> = new Map<string, number>([
  [ErrorCode.BadRequest, Status.BadRequest],
  [ErrorCode.MalformedFrame, Status.BadRequest],
  [ErrorCode.InvalidConfig, Status.BadRequest],
  [ErrorCode.UnexpectedFrame, Status.BadRequest],
  [ErrorCode.MultipartInvalid, Status.BadRequest],
  [ErrorCode.UnsupportedVersion, Status.BadRequest],
  [ErrorCode.FlowControl, Status.BadRequest],
  [ErrorCode.MultipartExpired, Status.Timeout],
  [ErrorCode.Unauthorized, Status.Unauthorized],
  [ErrorCode.Forbidden, Status.Forbidden],
  [ErrorCode.NotFound, Status.NotFound],
  [ErrorCode.Timeout, Status.Timeout],
  [ErrorCode.Aborted, Status.Timeout],
  [ErrorCode.Conflict, Status.Conflict],
  [ErrorCode.PayloadTooLarge, Status.PayloadTooLarge],
  [ErrorCode.FrameTooLarge, Status.PayloadTooLarge],
  [ErrorCode.LimitExceeded, Status.PayloadTooLarge],
  [ErrorCode.TooManyRequests, Status.TooManyRequests],
  [ErrorCode.TooManyStreams, Status.TooManyRequests],
  [ErrorCode.NotImplemented, Status.NotImplemented],
  [ErrorCode.Unavailable, Status.Unavailable],
  [ErrorCode.ConnectionClosed, Status.Unavailable],
  [ErrorCode.QueueOverflow, Status.Unavailable],
  [ErrorCode.Tls, Status.Unavailable],
  [ErrorCode.Integrity, Status.BadRequest],
  [ErrorCode.PathRefused, Status.BadRequest],
  [ErrorCode.FileTooLarge, Status.PayloadTooLarge],
  [ErrorCode.InsufficientSpace, Status.PayloadTooLarge],
  [ErrorCode.ProxyAuth, Status.Unavailable],
  [ErrorCode.Internal, Status.Internal],
]);

/**
 * The one place where wire statuses become errors. `code` is the stable code the peer sent, when it
 * sent one; otherwise the code is derived from the status.
 */
export function errorFromStatus(status: number, message: string, code?: string): OutpostError {
  const known = code?.startsWith("OUTPOST_") ? (code as ErrorCode) : undefined;
  const resolved = known ?? codeByStatus.get(status) ?? (status >= 500 ? ErrorCode.Internal : ErrorCode.BadRequest);
  const text = message || `request failed with status ${status}`;
  if (resolved === ErrorCode.Timeout) return new TimeoutError(text, { status });
  return new RemoteError(resolved, text, { status });
}

/** The wire status an error code travels with (see docs/errors.md). */
export function statusForCode(code: ErrorCode): number {
  return statusByCode.get(code) ?? Status.Internal;
}

/** The one place where errors become wire statuses. Unknown errors are 500 with a generic message. */
export function statusFromError(err: unknown): { status: number; code: ErrorCode; message: string } {
  if (isOutpostError(err)) {
    const status = (err as OutpostError).status ?? statusByCode.get(err.code) ?? Status.Internal;
    return { status, code: err.code, message: err.message };
  }
  return { status: Status.Internal, code: ErrorCode.Internal, message: "internal error" };
}
