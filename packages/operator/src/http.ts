import type { IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { AbortError, ErrorCode, errorFromStatus, isOutpostError, OutpostError, TimeoutError } from "@outpost/protocol";

/** Where and how the client connects. */
export interface Endpoint {
  url: URL;
  token: string | undefined;
  ca: string | undefined;
  timeoutMs: number;
}

/** Options of one request. */
export interface SendOptions {
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Resolve with the response as soon as its headers arrive (event streams). */
  stream?: boolean;
}

/** The error for a connection that failed before any answer: unreachable, TLS, reset. */
export function connectionError(endpoint: Endpoint, err: unknown): OutpostError {
  if (isOutpostError(err)) return err;
  const e = err as NodeJS.ErrnoException;
  const code = e.code ?? "";
  const where = endpoint.url.origin;
  if (/CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/i.test(code)) {
    return new OutpostError(ErrorCode.Tls, `TLS with ${where} failed: ${e.message}`, { cause: err });
  }
  if (code === "ECONNREFUSED" || code === "ENOTFOUND" || code === "EHOSTUNREACH" || code === "EAI_AGAIN") {
    return new OutpostError(ErrorCode.Unavailable, `cannot reach ${where} (${code})`, { cause: err });
  }
  return new OutpostError(ErrorCode.ConnectionClosed, `connection to ${where} failed: ${e.message}`, { cause: err });
}

/** Reads a response body as text (at most 64 MiB). */
export async function readText(res: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res as AsyncIterable<Buffer>) {
    size += chunk.byteLength;
    if (size > 64 * 1024 * 1024) throw new OutpostError(ErrorCode.LimitExceeded, "answer larger than 64 MiB");
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** The typed error for a non-2xx answer with the API's `{"error": {code, message}}` body. */
export function errorFromAnswer(status: number, text: string): OutpostError {
  let code: string | undefined;
  let message = "";
  try {
    const body = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
    if (typeof body.error?.code === "string") code = body.error.code;
    if (typeof body.error?.message === "string") message = body.error.message;
  } catch {
    // not the API's error body
  }
  return errorFromStatus(status, message || `the server answered ${status}`, code);
}

/**
 * One HTTPS request. Rejects with an OutpostError: the server's code for an error answer,
 * OUTPOST_UNAVAILABLE / OUTPOST_TLS / OUTPOST_CONNECTION_CLOSED for a failed connection,
 * OUTPOST_TIMEOUT after `timeoutMs` without an answer, OUTPOST_ABORTED when `signal` fires.
 */
export function send(endpoint: Endpoint, method: string, path: string, options: SendOptions = {}) {
  return new Promise<IncomingMessage>((resolve, reject) => {
    const { signal } = options;
    if (signal?.aborted) return reject(new AbortError());
    const payload = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body), "utf8");
    const headers: Record<string, string> = { accept: "application/json", ...options.headers };
    if (endpoint.token) headers.authorization = `Bearer ${endpoint.token}`;
    if (payload) {
      headers["content-type"] = "application/json";
      headers["content-length"] = String(payload.byteLength);
    }
    const req = httpsRequest(new URL(path, endpoint.url), {
      method,
      headers,
      ...(endpoint.ca !== undefined ? { ca: endpoint.ca } : {}),
    });
    const timer = setTimeout(() => {
      req.destroy(new TimeoutError(`no answer from ${endpoint.url.origin} within ${endpoint.timeoutMs} ms`));
    }, endpoint.timeoutMs);
    const onAbort = (): void => {
      req.destroy(new AbortError());
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    const done = (): void => {
      clearTimeout(timer);
      if (!options.stream) signal?.removeEventListener("abort", onAbort);
    };
    req.on("error", (err) => {
      done();
      signal?.removeEventListener("abort", onAbort);
      reject(connectionError(endpoint, err));
    });
    req.on("response", (res) => {
      done();
      if (options.stream) res.once("close", () => signal?.removeEventListener("abort", onAbort));
      resolve(res);
    });
    req.end(payload);
  });
}

/** A request whose JSON answer is returned; an error answer rejects with its typed error. */
export async function call<T>(endpoint: Endpoint, method: string, path: string, options: SendOptions = {}) {
  const res = await send(endpoint, method, path, options);
  let text: string;
  try {
    text = await readText(res);
  } catch (err) {
    throw connectionError(endpoint, err);
  }
  const status = res.statusCode ?? 0;
  if (status < 200 || status >= 300) throw errorFromAnswer(status, text);
  if (status === 204) return undefined as T;
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new OutpostError(ErrorCode.BadRequest, `the server's answer to ${method} ${path} is not JSON`, {
      cause: err,
    });
  }
}
