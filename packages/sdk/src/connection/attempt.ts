import {
  AbortError,
  CAPABILITY_EVENT_BATCH,
  Channel,
  type ChannelOptions,
  ConnectionClosedError,
  ErrorCode,
  errorFromStatus,
  type Goodbye,
  GoodbyeReason,
  OutpostError,
  statusForCode,
  type Stream,
  TimeoutError,
} from "@outpost/protocol";
import { dispatch } from "../dispatcher.js";
import type { HandlerContext } from "../handlers/context.js";
import type { Logger } from "../logger.js";
import type { TransportFactory } from "../options.js";
import type { OfflineQueue } from "../queue/offline-queue.js";
import type { Thing } from "../things/thing.js";
import { isSilenceWatch } from "../transport/ws-transport.js";
import { isFinalError } from "./reconnect.js";
import { runSender } from "./sender.js";
import { openSession, type SessionInfo } from "./session.js";

/** A live, authenticated connection. */
export interface Link {
  readonly url: string;
  readonly channel: Channel;
  readonly session: SessionInfo;
}

/** Everything one connection attempt needs. */
export interface AttemptOptions {
  url: string;
  factory: TransportFactory;
  channel: ChannelOptions;
  appKey: string;
  agent: string;
  /** Streams the server opens; without it they are refused. */
  onStream?: (stream: Stream) => void;
  things: ReadonlyMap<string, Thing>;
  queue: OfflineQueue;
  logger: Logger;
  connectTimeoutMs: number;
  maxBatch: number;
  flushIntervalMs: number;
  /** Aborted when the client closes. */
  signal: AbortSignal;
  onConnected(link: Link): void;
  /** Items or Things the server refused. */
  onRefused(error: OutpostError): void;
  /** A local failure while serving the server's requests (a service handler threw). */
  onError(error: OutpostError): void;
}

/** How an attempt ended. */
export interface AttemptResult {
  /** Whether authentication and bind succeeded (the backoff restarts). */
  connected: boolean;
  error: Error | undefined;
  /** The server's Goodbye hint: wait at least this long. 0 when none. */
  retryAfterMs: number;
  /** The server said this instance must not reconnect on its own (Goodbye REPLACED). */
  final?: boolean;
  /** The connection had been up and ended without the server's Goodbye (a crash or a network failure). */
  lost?: boolean;
}

/** Opens a connection, runs the handshake, then serves it until it closes. Never throws. */
export async function runAttempt(o: AttemptOptions): Promise<AttemptResult> {
  const conn = new AbortController();
  const stop = (): void => conn.abort(new ConnectionClosedError("client closed"));
  o.signal.addEventListener("abort", stop, { once: true });
  const deadline = AbortSignal.timeout(o.connectTimeoutMs);
  const setup = AbortSignal.any([conn.signal, deadline]);
  let goodbye: Goodbye | undefined;
  let channel: Channel | undefined;
  let dispatching: Promise<void> = Promise.resolve();
  try {
    const transport = await o.factory(o.url, { signal: setup });
    if (setup.aborted) {
      await transport.close();
      throw setup.reason;
    }
    channel = new Channel(transport, o.channel);
    const ch = channel;
    const ctx: HandlerContext = {
      channel: ch,
      things: o.things,
      logger: o.logger,
      connectionSignal: conn.signal,
      onError: o.onError,
      onGoodbye: (g) => {
        goodbye = g;
        void ch.close();
      },
    };
    dispatching = dispatch(ctx);
    const session = await openSession(ch, {
      appKey: o.appKey,
      things: [...o.things.keys()],
      agent: o.agent,
      queueEpoch: o.queue.epoch,
      signal: setup,
      ...(o.onStream && { onStream: o.onStream }),
    });
    if (session.pingIntervalMs > 0 && isSilenceWatch(transport)) transport.expectPingsEvery(session.pingIntervalMs);
    for (const r of session.refused) o.onRefused(r.error);
    if (session.delivered && o.queue.settleDelivered(session.delivered.from, session.delivered.to)) {
      o.onRefused(
        new OutpostError(
          ErrorCode.Conflict,
          `the server applied seq ${session.delivered.to} of this queue epoch, beyond what the queue store holds ` +
            "(restored from an older copy?): items queued since start were renumbered",
        ),
      );
    }
    o.onConnected({ url: o.url, channel: ch, session });
    const bound = session.bound.map((name) => o.things.get(name)).filter((t): t is Thing => t !== undefined);
    const sending = runSender({
      queue: o.queue,
      channel: ch,
      things: bound,
      maxBatch: o.maxBatch,
      eventBatches: session.capabilities.includes(CAPABILITY_EVENT_BATCH),
      epoch: session.delivered ? o.queue.epoch : undefined,
      flushIntervalMs: o.flushIntervalMs,
      signal: conn.signal,
      logger: o.logger,
      onRefused: o.onRefused,
    });
    const closeError = await ch.closed();
    conn.abort(closeError ?? new ConnectionClosedError("connection closed"));
    o.queue.releaseAll();
    await Promise.all([sending, dispatching]);
    return { connected: true, ...outcome(closeError, goodbye), ...(goodbye === undefined && { lost: true }) };
  } catch (err) {
    const error =
      deadline.aborted && !o.signal.aborted ? new TimeoutError(`connect attempt to ${o.url} timed out`) : err;
    await channel?.close(error instanceof Error ? error : undefined);
    conn.abort(error);
    o.queue.releaseAll();
    await dispatching;
    if (o.signal.aborted) return { connected: false, error: new AbortError("client closed"), retryAfterMs: 0 };
    return { connected: false, ...outcome(error instanceof Error ? error : new Error(String(error)), goodbye) };
  } finally {
    o.signal.removeEventListener("abort", stop);
  }
}

function outcome(error: Error | undefined, goodbye: Goodbye | undefined): Omit<AttemptResult, "connected"> {
  if (!goodbye) return { error: error ?? new ConnectionClosedError("connection closed"), retryAfterMs: 0 };
  const reason = GoodbyeReason[goodbye.reason ?? 0] ?? String(goodbye.reason);
  const text = `server said goodbye (${reason})${goodbye.message ? `: ${goodbye.message}` : ""}`;
  const retryAfterMs = goodbye.reconnectAfterMs ?? 0;
  if (goodbye.reason === GoodbyeReason.REPLACED) {
    // Reconnecting would take the connection back from the newer one, which would do the same.
    const conflict = new OutpostError(ErrorCode.Conflict, `${text}; not reconnecting`, { status: 409 });
    return { error: conflict, retryAfterMs: 0, final: true };
  }
  // What the attempt itself learnt (e.g. AuthResult 401) is the more precise error when it is final.
  if (isFinalError(error)) return { error, retryAfterMs };
  // Since 1.1 the Goodbye names its stable code: the reconnect policy decides on it.
  const code = goodbye.code ?? "";
  if (code.startsWith("OUTPOST_")) {
    return { error: errorFromStatus(statusForCode(code as ErrorCode), text, code), retryAfterMs };
  }
  if (goodbye.reason === GoodbyeReason.AUTH_REVOKED) {
    return { error: new OutpostError(ErrorCode.Unauthorized, text, { status: 401 }), retryAfterMs: 0 };
  }
  if (goodbye.reason === GoodbyeReason.PROTOCOL_ERROR && error) return { error, retryAfterMs };
  return { error: new ConnectionClosedError(text), retryAfterMs };
}
