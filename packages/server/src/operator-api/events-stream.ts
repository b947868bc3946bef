import type { ServerResponse } from "node:http";
import type { EventLog, LoggedChange } from "./event-log.js";

export { changeToJson } from "./event-log.js";

/** Options for {@link openEventStream}. */
export interface EventStreamOptions {
  log: EventLog;
  /** Only changes of this Thing. */
  thing?: string;
  /**
   * Checked for every change, so a revoked grant takes effect on an open stream. A registry that
   * cannot decide at once answers with a Promise: changes are then still sent in their order, at
   * most {@link MAX_UNDECIDED} wait for their decision (more ends the stream, like a slow client),
   * and a decision that fails ends the stream, so the client resumes with its Last-Event-ID.
   */
  accept: (change: Pick<LoggedChange, "thing" | "type" | "name">) => boolean | Promise<boolean>;
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

/** Changes of one stream that may wait for their decision at once. */
export const MAX_UNDECIDED = 10_000;

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
  // Unsent bytes when the current burst began: undefined between bursts (reset once the event loop
  // has had a turn to write to the socket).
  let backlog: number | undefined;
  const deliver = (c: LoggedChange): void => {
    if (res.destroyed || res.writableEnded) return;
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
  // While a decision is pending, every later change waits behind it, so the order holds.
  let pending: Promise<void> | undefined;
  let undecided = 0;
  const send = (c: LoggedChange): void => {
    if (options.thing !== undefined && c.thing !== options.thing) return;
    let decision: boolean | Promise<boolean>;
    try {
      decision = options.accept(c);
    } catch {
      if (!res.writableEnded) res.end();
      return;
    }
    if (pending === undefined && typeof decision === "boolean") {
      if (decision) deliver(c);
      return;
    }
    if (++undecided > MAX_UNDECIDED) {
      res.destroy();
      return;
    }
    const mine: Promise<void> = (pending ?? Promise.resolve())
      .then(() => decision)
      .then(
        (yes) => {
          if (yes) deliver(c);
        },
        () => {
          if (!res.writableEnded) res.end();
        },
      )
      .finally(() => {
        undecided--;
        if (pending === mine) pending = undefined;
      });
    pending = mine;
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
