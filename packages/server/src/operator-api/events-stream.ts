import type { ServerResponse } from "node:http";
import type { EventLog, LoggedChange } from "./event-log.js";

export { changeToJson } from "./event-log.js";

/** Options for {@link openEventStream}. */
export interface EventStreamOptions {
  log: EventLog;
  /** Only changes of this Thing. */
  thing?: string;
  /** Checked for every change, so a revoked grant takes effect on an open stream. */
  accept: (change: Pick<LoggedChange, "thing" | "type" | "name">) => boolean;
  /** The client's Last-Event-ID header: replay what it missed first. */
  lastEventId?: string;
  /** Interval of keep-alive comments, in ms. Default 15 000. */
  heartbeatMs?: number;
  /**
   * Unsent bytes tolerated before a slow client is disconnected. Default 1 MiB. Counted as what is
   * still unsent when a burst of changes starts (the changes of one device batch, or a replay, are
   * published together and written whole), so one large batch never disconnects a client that
   * keeps up.
   */
  maxBufferedBytes?: number;
}

/**
 * Streams matching changes as Server-Sent Events (`id:`, `event: property` / `event: event`, JSON
 * data) until the client goes away. With a Last-Event-ID the kept changes after it are sent first;
 * when some were already dropped, an `event: gap` frame says so. A client that cannot keep up is
 * disconnected rather than buffered. Returns the function that ends the stream.
 */
export function openEventStream(res: ServerResponse, options: EventStreamOptions): () => void {
  const maxBuffered = options.maxBufferedBytes ?? 1024 * 1024;
  res.writeHead(200, {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache",
    connection: "keep-alive",
  });
  res.write(": connected\n\n");
  const matches = (c: LoggedChange): boolean =>
    (options.thing === undefined || c.thing === options.thing) && options.accept(c);
  // Unsent bytes when the current burst began: undefined between bursts (reset once the event loop
  // has had a turn to write to the socket).
  let backlog: number | undefined;
  const send = (c: LoggedChange): void => {
    if (!matches(c)) return;
    if (backlog === undefined) {
      backlog = res.writableLength;
      setImmediate(() => {
        backlog = undefined;
      });
    }
    // Only a backlog left from before this burst disconnects, never the burst itself.
    if (backlog > maxBuffered) {
      res.destroy();
      return;
    }
    res.write(`event: ${c.type}\nid: ${c.id}\ndata: ${c.data}\n\n`);
  };
  if (options.lastEventId !== undefined) {
    const replay = options.log.since(options.lastEventId);
    if (replay.gap) res.write(`event: gap\ndata: {"lastEventId":${JSON.stringify(options.lastEventId)}}\n\n`);
    for (const c of replay.changes) send(c);
  }
  const unsubscribe = options.log.subscribe(send);
  const heartbeat = setInterval(() => res.write(": keep-alive\n\n"), options.heartbeatMs ?? 15_000);
  heartbeat.unref();
  const stop = (): void => {
    unsubscribe();
    clearInterval(heartbeat);
    if (!res.writableEnded) res.end();
  };
  res.on("close", stop);
  return stop;
}
