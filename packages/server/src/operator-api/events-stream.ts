import type { ServerResponse } from "node:http";
import type { ChangeFilter, ThingChange } from "../things/changes.js";
import type { ThingService } from "../things/thing-service.js";
import { toJsonValue } from "../things/values.js";

/** Options for {@link openEventStream}. */
export interface EventStreamOptions {
  things: ThingService;
  filter: ChangeFilter;
  /** Interval of keep-alive comments, in ms. Default 15 000. */
  heartbeatMs?: number;
  /** Unsent bytes tolerated before a slow client is disconnected. Default 1 MiB. */
  maxBufferedBytes?: number;
}

/** A change as JSON for the operator API (bytes as {"$bytes": base64}). */
export function changeToJson(change: ThingChange): Record<string, unknown> {
  if (change.type === "property") {
    return { ...change, value: toJsonValue(change.value) };
  }
  const data: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(change.data)) data[k] = toJsonValue(v);
  return { ...change, data };
}

/**
 * Streams matching changes as Server-Sent Events (`event: property` / `event: event`, JSON data)
 * until the client goes away. A client that cannot keep up is disconnected rather than buffered.
 */
export function openEventStream(res: ServerResponse, options: EventStreamOptions): () => void {
  const maxBuffered = options.maxBufferedBytes ?? 1024 * 1024;
  res.writeHead(200, {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache",
    connection: "keep-alive",
  });
  res.write(": connected\n\n");
  const stop = (): void => {
    unsubscribe();
    clearInterval(heartbeat);
    if (!res.writableEnded) res.end();
  };
  const unsubscribe = options.things.subscribe(options.filter, (change) => {
    if (res.writableLength > maxBuffered) {
      res.destroy();
      return;
    }
    res.write(`event: ${change.type}\ndata: ${JSON.stringify(changeToJson(change))}\n\n`);
  });
  const heartbeat = setInterval(() => res.write(": keep-alive\n\n"), options.heartbeatMs ?? 15_000);
  heartbeat.unref();
  res.on("close", stop);
  return stop;
}
