import { randomBytes } from "node:crypto";
import { request } from "node:http";
import { ErrorCode, OutpostError, type OutpostValue } from "@outpost/protocol";
import type { ServiceCallbackConfig } from "../config/schema.js";
import { isLoopback } from "../local/guards.js";
import { errorCodeForStatus } from "../local/service-broker.js";

/** What the EMS counts of callback services (for status and metrics). */
export interface CallbackCounters {
  calls: number;
  answered: number;
  failed: number;
}

const MAX_ANSWER_BYTES = 1024 * 1024;

/**
 * Checks a callback service's configuration: an `http:` URL to a loopback address, or any `http:`
 * URL with `socket` (only its path is used). Anything else would let whoever writes the
 * configuration make the device call out to the network.
 */
export function checkCallback(thing: string, svc: ServiceCallbackConfig): URL {
  const where = `things ${thing}: service ${svc.name}: callback`;
  let url: URL;
  try {
    url = new URL(svc.callback);
  } catch {
    throw new OutpostError(ErrorCode.InvalidConfig, `${where} ${JSON.stringify(svc.callback)} is not a URL`);
  }
  if (url.protocol !== "http:") {
    throw new OutpostError(ErrorCode.InvalidConfig, `${where} must be an http: URL, got ${url.protocol}`);
  }
  if (svc.socket === undefined && !isLoopback(url.hostname)) {
    throw new OutpostError(
      ErrorCode.InvalidConfig,
      `${where} ${url.host} is not a loopback address (use 127.0.0.1, ::1 or localhost, or a Unix socket with "socket")`,
    );
  }
  if (url.username || url.password) {
    throw new OutpostError(ErrorCode.InvalidConfig, `${where} must not carry credentials in the URL`);
  }
  return url;
}

/**
 * Calls a service's local endpoint: `POST` of `{"id", "thing", "service", "params"}`; a 2xx answer
 * is `{"result": ...}` or `{"error": {"message", "status"}}` (the same bodies as `POST /calls/{id}`),
 * any other status is an error with that status. No redirects are followed, answers over 1 MiB are
 * refused, and the request is aborted when the server's deadline passes.
 */
export class ServiceCallbacks {
  readonly counters: CallbackCounters = { calls: 0, answered: 0, failed: 0 };

  async call(
    svc: ServiceCallbackConfig,
    url: URL,
    thing: string,
    params: Record<string, OutpostValue>,
    signal: AbortSignal,
  ): Promise<OutpostValue> {
    this.counters.calls += 1;
    try {
      const id = `call_${randomBytes(9).toString("base64url")}`;
      const { status, body } = await post(svc, url, { id, thing, service: svc.name, params }, signal);
      const answer = parseAnswer(body);
      if (status >= 200 && status < 300 && answer && "result" in answer) {
        this.counters.answered += 1;
        return answer.result as OutpostValue;
      }
      const err = answer?.error;
      const errStatus =
        typeof err?.status === "number" && err.status >= 400 && err.status < 600
          ? err.status
          : status >= 400
            ? status
            : 502;
      const message =
        typeof err?.message === "string"
          ? err.message
          : status >= 200 && status < 300
            ? `the callback of ${thing}.${svc.name} answered ${status} without {"result"} or {"error"}`
            : `the callback of ${thing}.${svc.name} answered ${status}`;
      throw new OutpostError(errorCodeForStatus(errStatus), message, { status: errStatus });
    } catch (err) {
      this.counters.failed += 1;
      throw err;
    }
  }
}

function parseAnswer(body: string): { result?: unknown; error?: { message?: unknown; status?: unknown } } | undefined {
  try {
    const v: unknown = JSON.parse(body);
    return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as never) : undefined;
  } catch {
    return undefined;
  }
}

function post(
  svc: ServiceCallbackConfig,
  url: URL,
  payload: unknown,
  signal: AbortSignal,
): Promise<{ status: number; body: string }> {
  const data = Buffer.from(JSON.stringify(payload));
  const target = `${svc.socket ? `${svc.socket} ` : ""}${url.href}`;
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(timeout(svc, target));
      return;
    }
    const req = request(
      {
        method: "POST",
        path: `${url.pathname}${url.search}`,
        ...(svc.socket !== undefined
          ? { socketPath: svc.socket, headers: { host: "localhost" } }
          : { host: url.hostname.replace(/^\[|\]$/g, ""), port: url.port || 80, headers: { host: url.host } }),
        signal,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (c: Buffer) => {
          size += c.length;
          if (size > MAX_ANSWER_BYTES) {
            req.destroy();
            reject(
              new OutpostError(ErrorCode.Internal, `the callback ${target} answered more than 1 MiB`, { status: 502 }),
            );
            return;
          }
          chunks.push(c);
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
        res.on("error", () => {});
      },
    );
    req.setHeader("content-type", "application/json");
    req.setHeader("content-length", data.length);
    req.on("error", (err: NodeJS.ErrnoException) => {
      if (signal.aborted) reject(timeout(svc, target));
      else
        reject(
          new OutpostError(
            ErrorCode.Unavailable,
            `the callback ${target} cannot be reached: ${err.code ?? err.message}`,
            {
              status: 503,
            },
          ),
        );
    });
    req.end(data);
  });
}

function timeout(svc: ServiceCallbackConfig, target: string): OutpostError {
  return new OutpostError(ErrorCode.Timeout, `the callback ${target} of ${svc.name} did not answer in time`, {
    status: 504,
  });
}
