import type { IncomingMessage, ServerResponse } from "node:http";
import { ErrorCode, isOutpostError, OutpostError } from "@outpost/protocol";

/** HTTP status of each error code the local API answers with. */
const STATUS: Partial<Record<string, number>> = {
  [ErrorCode.BadRequest]: 400,
  [ErrorCode.Unauthorized]: 401,
  [ErrorCode.Forbidden]: 403,
  [ErrorCode.NotFound]: 404,
  [ErrorCode.Conflict]: 409,
  [ErrorCode.PayloadTooLarge]: 413,
  [ErrorCode.QueueOverflow]: 507,
  [ErrorCode.Unavailable]: 503,
  [ErrorCode.InvalidConfig]: 400,
};

/** An error answer: `{"error": {"code", "message"}}` with the code's status. */
export function sendError(res: ServerResponse, err: unknown): number {
  const e = isOutpostError(err)
    ? err
    : new OutpostError(ErrorCode.Internal, err instanceof Error ? err.message : String(err), { cause: err });
  const status = STATUS[e.code] ?? (e.status !== undefined && e.status >= 400 && e.status < 600 ? e.status : 500);
  sendJson(res, status, { error: { code: e.code, message: e.message } });
  return status;
}

/** A JSON answer. */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, (_k, v: unknown) =>
    typeof v === "bigint" ? Number(v) : v instanceof Uint8Array ? { base64: Buffer.from(v).toString("base64") } : v,
  );
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
    "cache-control": "no-store",
  });
  res.end(text);
}

/** Reads the body as JSON, at most `maxBytes` (else OUTPOST_PAYLOAD_TOO_LARGE); an empty body is `{}`. */
export async function readJson(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const declared = Number(req.headers["content-length"] ?? 0);
  // The rest of a refused body is read and discarded, so the client gets the 413 instead of a
  // reset connection in the middle of its write.
  if (declared > maxBytes) {
    req.resume();
    throw tooLarge(maxBytes);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) {
      req.resume();
      throw tooLarge(maxBytes);
    }
    chunks.push(chunk);
  }
  if (size === 0) return {};
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8")) as unknown;
  } catch {
    throw new OutpostError(ErrorCode.BadRequest, "the body is not valid JSON");
  }
}

function tooLarge(maxBytes: number): OutpostError {
  return new OutpostError(ErrorCode.PayloadTooLarge, `the body is larger than ${maxBytes} bytes`);
}

/** A plain object or OUTPOST_BAD_REQUEST. */
export function asObject(v: unknown, what = "the body"): Record<string, unknown> {
  if (v === null || typeof v !== "object" || Array.isArray(v)) {
    throw new OutpostError(ErrorCode.BadRequest, `${what} must be a JSON object`);
  }
  return v as Record<string, unknown>;
}
