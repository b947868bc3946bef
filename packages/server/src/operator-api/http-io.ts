import type { IncomingMessage, ServerResponse } from "node:http";
import { ErrorCode, OutpostError, statusFromError } from "@outpost/protocol";

/** Reads and parses a JSON request body of at most `maxBytes` (413 beyond, 400 when not JSON). */
export async function readJson(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const declared = Number(req.headers["content-length"] ?? "0");
  if (declared > maxBytes) throw tooLarge(maxBytes);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.byteLength;
    if (size > maxBytes) throw tooLarge(maxBytes);
    chunks.push(chunk);
  }
  if (size === 0) return undefined;
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8")) as unknown;
  } catch {
    throw new OutpostError(ErrorCode.BadRequest, "request body is not valid JSON", { status: 400 });
  }
}

function tooLarge(maxBytes: number): OutpostError {
  return new OutpostError(ErrorCode.PayloadTooLarge, `request body exceeds ${maxBytes} bytes`, { status: 413 });
}

/** Writes a JSON response. */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

/**
 * Writes `{"error": {"code", "message"}}` with the HTTP status of the error. A device that did not
 * answer in time is a gateway timeout (504); unknown errors are 500 with a generic message.
 */
export function sendError(res: ServerResponse, err: unknown): void {
  const { status, code, message } = statusFromError(err);
  const http = code === ErrorCode.Timeout ? 504 : status >= 400 && status <= 599 ? status : 500;
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (http === 401) res.setHeader("www-authenticate", 'Bearer realm="outpost"');
  sendJson(res, http, { error: { code, message } });
}
