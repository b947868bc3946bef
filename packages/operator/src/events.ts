import type { IncomingMessage } from "node:http";
import { ConnectionClosedError, ErrorCode, isOutpostError, type OutpostError } from "@outpost/protocol";
import type { JsonValue } from "./generated/api.js";
import { connectionError, type Endpoint, errorFromAnswer, readText, send } from "./http.js";

/** A property change accepted by the server. */
export interface PropertyChangeEvent {
  type: "property";
  /** SSE id; pass as `lastEventId` to resume after it. */
  id: string;
  deviceId: string;
  thing: string;
  name: string;
  value: JsonValue;
  timestampMs: number;
  quality: "good" | "bad" | "uncertain";
}

/** An event emitted by a device. */
export interface DeviceEvent {
  type: "event";
  id: string;
  deviceId: string;
  thing: string;
  name: string;
  data: Record<string, JsonValue>;
  timestampMs: number;
}

/**
 * What became of a property write the server held as desired state for an offline Thing:
 * `held`, `applied` (on reconnect), `refused` (with `code`), `expired` or `cleared`.
 */
export interface DesiredEvent {
  type: "desired";
  id: string;
  deviceId: string;
  thing: string;
  name: string;
  value: JsonValue;
  outcome: "held" | "applied" | "refused" | "expired" | "cleared";
  setBy: string;
  setAt: number;
  expiresAt: number;
  /** When this outcome happened (ms since epoch). */
  timestampMs: number;
  /** Stable error code of a refusal or expiry. */
  code?: string;
  message?: string;
}

/** The server could not replay everything after `lastEventId` (its buffer was exceeded or it restarted). */
export interface GapEvent {
  type: "gap";
  lastEventId: string;
}

/** The stream was cut and is being reopened after `delayMs`. */
export interface ReconnectingEvent {
  type: "reconnecting";
  error: OutpostError;
  delayMs: number;
}

/** What {@link OperatorClient.events} yields. */
export type StreamItem = PropertyChangeEvent | DeviceEvent | DesiredEvent | GapEvent | ReconnectingEvent;

/** Options of {@link OperatorClient.events}. */
export interface EventsOptions {
  /** Only this Thing. */
  thing?: string;
  /** Resume after this event id. Default: from now on. */
  lastEventId?: string;
  /** Ends the iteration. */
  signal?: AbortSignal;
  /** Reopen the stream when it is cut (with Last-Event-ID, so nothing is lost or repeated). Default true. */
  reconnect?: boolean;
  /** First delay before reopening, doubled per failed attempt up to `maxRetryDelayMs`. Default 500 ms. */
  retryDelayMs?: number;
  /** Default 10 000 ms. */
  maxRetryDelayMs?: number;
  /** Yield `reconnecting` items when the stream is cut. Default false. */
  reportReconnects?: boolean;
}

/** Parses one SSE block into its fields (event, id, data). */
function parseBlock(block: string): { event?: string; id?: string; data: string[] } {
  const out: { event?: string; id?: string; data: string[] } = { data: [] };
  for (const line of block.split(/\r?\n/)) {
    if (line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") out.event = value;
    else if (field === "id") out.id = value;
    else if (field === "data") out.data.push(value);
  }
  return out;
}

async function* framesOf(res: IncomingMessage): AsyncGenerator<{ event?: string; id?: string; data: string[] }> {
  let buffer = "";
  res.setEncoding("utf8");
  for await (const chunk of res as AsyncIterable<string>) {
    buffer += chunk;
    let idx: number;
    while ((idx = buffer.search(/\r?\n\r?\n/)) >= 0) {
      const block = buffer.slice(0, idx);
      buffer = buffer.slice(idx).replace(/^\r?\n\r?\n/, "");
      const frame = parseBlock(block);
      if (frame.event || frame.data.length) yield frame;
    }
  }
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });

/**
 * The event stream as an async iterable. When the connection is cut it reopens the stream with
 * the id of the last event yielded as Last-Event-ID, so the server replays what was missed and
 * nothing is yielded twice. Error answers that retrying cannot fix (401, 403, 400, 404) end the
 * iteration by throwing their typed error.
 */
export async function* streamEvents(endpoint: Endpoint, options: EventsOptions): AsyncGenerator<StreamItem> {
  const { signal } = options;
  let lastEventId = options.lastEventId;
  let delay = options.retryDelayMs ?? 500;
  const path = `/api/events${options.thing ? `?thing=${encodeURIComponent(options.thing)}` : ""}`;
  const seen = new Set<string>();
  for (;;) {
    if (signal?.aborted) return;
    let error: OutpostError;
    try {
      const headers: Record<string, string> = { accept: "text/event-stream" };
      if (lastEventId !== undefined) headers["last-event-id"] = lastEventId;
      const res = await send(endpoint, "GET", path, { headers, stream: true, ...(signal ? { signal } : {}) });
      const status = res.statusCode ?? 0;
      if (status !== 200) throw errorFromAnswer(status, await readText(res));
      delay = options.retryDelayMs ?? 500;
      for await (const frame of framesOf(res)) {
        if (frame.event === "gap") {
          yield { type: "gap", lastEventId: lastEventId ?? "" };
          continue;
        }
        if (frame.event !== "property" && frame.event !== "event" && frame.event !== "desired") continue;
        // Ids are unique; the set guards against a server that replays more than was asked.
        if (frame.id !== undefined) {
          if (seen.has(frame.id)) continue;
          seen.add(frame.id);
          if (seen.size > 10_000) seen.delete(seen.values().next().value!);
          lastEventId = frame.id;
        }
        const body = JSON.parse(frame.data.join("\n")) as Record<string, unknown>;
        yield { ...body, id: frame.id ?? "" } as PropertyChangeEvent | DeviceEvent | DesiredEvent;
      }
      error = connectionClosed();
    } catch (err) {
      if (signal?.aborted || isOutpostError(err, ErrorCode.Aborted)) return;
      const e = connectionError(endpoint, err);
      if ([400, 401, 403, 404].includes(e.status ?? 0)) throw e;
      error = e;
    }
    if (options.reconnect === false) throw error;
    if (options.reportReconnects) yield { type: "reconnecting", error, delayMs: delay };
    await sleep(delay, signal);
    delay = Math.min(delay * 2, options.maxRetryDelayMs ?? 10_000);
  }
}

function connectionClosed(): OutpostError {
  return new ConnectionClosedError("the event stream ended");
}
