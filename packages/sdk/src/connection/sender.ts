import {
  type Channel,
  type Envelope,
  type EnvelopeInit,
  ErrorCode,
  type EventMessage,
  isOutpostError,
  isSuccess,
  type OutpostError,
  type PropertyValue,
  RemoteError,
  toWireValue,
} from "@outpost/protocol";
import type { Logger } from "../logger.js";
import type { OfflineQueue } from "../queue/offline-queue.js";
import type { QueuedEvent, QueuedProperty, QueueItem } from "../queue/types.js";
import type { Thing } from "../things/thing.js";
import { sleep } from "./reconnect.js";

/** Options of {@link runSender}. */
export interface SenderOptions {
  queue: OfflineQueue;
  channel: Channel;
  /** Things bound on this connection (their current values are re-synced first). */
  things: readonly Thing[];
  /** Most property values per PropertyUpdate (also capped by the server's maxBatch). */
  maxBatch: number;
  /** The server announced `event-batch`: runs of events travel as one EventBatch, else one Event per request. */
  eventBatches: boolean;
  /**
   * The queue epoch when the server speaks "delivery-epoch": batches carry it with their seqs.
   * Undefined for an older server: seqs are then sent offset by the queue's legacy base.
   */
  epoch: number | undefined;
  /** Batching window after the queue was idle. */
  flushIntervalMs: number;
  /** Aborted when the connection ends. */
  signal: AbortSignal;
  logger: Logger;
  /** Reports items the server refused (answered with a non-2xx status: reported failed, not retried). */
  onRefused(error: OutpostError): void;
}

const RETRY_PAUSE_MS = 1_000;

/**
 * Most batches in flight at once on a server that keeps an exact delivery record per queue epoch
 * ("delivery-epoch"); also at most half the server's maxConcurrentRequests. A server without it
 * gets one batch at a time.
 */
export const DELIVERY_WINDOW = 8;

/**
 * Runs while one connection is up: re-syncs the current property values, then drains the queue
 * oldest first. With "delivery-epoch" several batches are in flight (a window of up to
 * {@link DELIVERY_WINDOW}): the server applies them in the order they arrive and keeps exactly
 * which seqs it applied, so after a lost connection the device re-sends whatever it holds and the
 * server acknowledges the applied ones as duplicates (docs/protocol.md §8, Delivery). A further
 * batch is sent only while a full one is waiting, so a lightly loaded device still sends few,
 * full batches. Without "delivery-epoch", one batch at a time (stop-and-wait).
 */
export async function runSender(options: SenderOptions): Promise<void> {
  const { queue, signal } = options;
  const stopped = aborted(signal);
  const inFlight = new Map<Promise<void>, number>();
  try {
    await resync(options);
    const window =
      options.epoch === undefined
        ? 1
        : Math.max(1, Math.min(DELIVERY_WINDOW, Math.floor(options.channel.peerLimits.maxConcurrentRequests / 2)));
    let idle = false;
    let cap = Number.POSITIVE_INFINITY;
    // Set while a retryable failure pauses sending; batches in flight still settle meanwhile.
    let paused: Promise<void> | undefined;
    const settled = () => Promise.race([...inFlight.keys(), stopped]);
    while (!signal.aborted) {
      if (paused) {
        await Promise.race([paused, stopped]);
        paused = undefined;
        continue;
      }
      const limit = Math.max(1, Math.min(options.maxBatch, options.channel.peerLimits.maxBatch, cap));
      const sending = [...inFlight.values()].reduce((a, b) => a + b, 0);
      if (inFlight.size >= window || (inFlight.size > 0 && queue.size - sending < limit)) {
        await Promise.race([settled(), inFlight.size < window ? queue.changed() : stopped]);
        continue;
      }
      if (idle && inFlight.size === 0 && options.flushIntervalMs > 0) {
        await batchWindow(queue, limit, options.flushIntervalMs, signal);
      }
      const batch = queue.takeBatch(limit, options.eventBatches);
      if (batch.length === 0) {
        await Promise.race([queue.changed(), settled()]);
        idle = inFlight.size === 0;
        continue;
      }
      idle = false;
      const delivery: Promise<void> = deliver(options, batch).then(
        (outcome) => {
          inFlight.delete(delivery);
          if (outcome === "too-large") cap = Math.ceil(batch.length / 2);
          if (outcome === "retry" && !signal.aborted) paused ??= sleep(RETRY_PAUSE_MS, signal).catch(() => undefined);
        },
        (err: unknown) => {
          inFlight.delete(delivery);
          options.logger.warn("delivery of a batch failed", { error: String(err) });
        },
      );
      inFlight.set(delivery, batch.length);
    }
  } catch (err) {
    if (!signal.aborted) options.logger.warn("sender stopped", { error: String(err) });
  }
  await Promise.all(inFlight.keys());
}

/**
 * After the queue was idle, gives later values the chance to join the first one's batch: waits
 * until a full batch is waiting or `windowMs` has passed, whichever comes first. A device that
 * sets one value now and then pays at most the window in latency; a busy one never waits.
 */
async function batchWindow(queue: OfflineQueue, limit: number, windowMs: number, signal: AbortSignal): Promise<void> {
  let expired = false;
  const timer = sleep(windowMs, signal).then(
    () => {
      expired = true;
    },
    () => {
      expired = true;
    },
  );
  while (!expired && queue.size < limit) await Promise.race([queue.changed(), timer]);
}

/**
 * Sends one batch and settles it in the queue; "too-large" when it must be sent in smaller
 * batches, "retry" when it was released to be sent again after a pause. Never rejects.
 */
async function deliver(options: SenderOptions, batch: QueueItem[]): Promise<"too-large" | "retry" | undefined> {
  const seqs = batch.map((i) => i.seq);
  let reply: Envelope;
  try {
    reply = await options.channel.request(toEnvelope(batch, options), { signal: options.signal });
  } catch (err) {
    if (batch.length > 1 && isTooLarge(err)) {
      // Each item may fit on its own: dropping the whole batch would lose data that can be delivered.
      options.queue.release(seqs);
      return "too-large";
    }
    if (isRetryable(err)) {
      options.queue.release(seqs);
      return isOutpostError(err, ErrorCode.Timeout) ? undefined : "retry";
    }
    options.queue.ack(seqs);
    options.onRefused(asRemote(err, `${batch.length} queued item(s) refused and dropped`));
    return undefined;
  }
  options.queue.ack(seqs);
  (reply.response?.items ?? []).forEach((item, index) => {
    const status = item.status ?? 0;
    if (isSuccess(status)) return;
    const what = batch[index] ? `${batch[index].thing}.${batch[index].name}` : item.key;
    options.onRefused(
      new RemoteError(codeFor(status), `server refused ${what} (${status}): ${item.message ?? ""}`, {
        status,
      }),
    );
  });
  return undefined;
}

function toEnvelope(batch: QueueItem[], options: SenderOptions): EnvelopeInit {
  const first = batch[0]!;
  const epoch = options.epoch ?? 0;
  const base = options.epoch === undefined ? options.queue.legacySeqBase : 0;
  if (first.kind === "event") {
    const events = (batch as QueuedEvent[]).map((e) => toEvent(e, base));
    if (options.eventBatches) return { eventBatch: { events, epoch } };
    return { event: { ...events[0]!, epoch } };
  }
  // takeBatch never mixes kinds, and a queued property has every PropertyValue field (the encoder
  // ignores `kind`), so with an epoch the queued items are encoded as they are instead of being copied.
  const values: PropertyValue[] =
    base === 0 ? (batch as QueuedProperty[]) : (batch as QueuedProperty[]).map((v) => ({ ...v, seq: v.seq + base }));
  return { propertyUpdate: { values, epoch } };
}

function toEvent(e: QueuedEvent, base: number): EventMessage {
  return { thing: e.thing, name: e.name, data: e.data, timestampMs: e.timestampMs, seq: e.seq + base };
}

/** Sends the current values (seq 0: not deduplicated) of properties with nothing queued. */
async function resync(options: SenderOptions): Promise<void> {
  const queued = options.queue.queuedPropertyKeys();
  const props = options.things.flatMap((t) =>
    [...t.properties.values()].filter(
      (p) => p.push !== "never" && p.value !== undefined && !queued.has(`${p.thing}\u0000${p.name}`),
    ),
  );
  const limit = Math.max(1, Math.min(options.maxBatch, options.channel.peerLimits.maxBatch));
  for (let i = 0; i < props.length && !options.signal.aborted; i += limit) {
    const chunk = props.slice(i, i + limit);
    const values: PropertyValue[] = chunk.map((p) => ({
      thing: p.thing,
      name: p.name,
      value: toWireValue(p.value!),
      timestampMs: p.timestampMs,
      quality: p.quality,
      seq: 0,
    }));
    try {
      await options.channel.request({ propertyUpdate: { values } }, { signal: options.signal });
      for (const p of chunk) p.markSynced();
    } catch (err) {
      if (!options.signal.aborted) options.logger.warn("re-sync of current values failed", { error: String(err) });
    }
  }
}

function isRetryable(err: unknown): boolean {
  if (!isOutpostError(err)) return true;
  const status = err.status;
  if (status === 429 || status === 408 || (status !== undefined && status >= 500)) return true;
  return (
    err.code === ErrorCode.Timeout ||
    err.code === ErrorCode.ConnectionClosed ||
    err.code === ErrorCode.Aborted ||
    err.code === ErrorCode.TooManyRequests ||
    err.code === ErrorCode.Unavailable ||
    err.code === ErrorCode.Internal
  );
}

function isTooLarge(err: unknown): boolean {
  return (
    isOutpostError(err) &&
    (err.status === 413 ||
      err.code === ErrorCode.LimitExceeded ||
      err.code === ErrorCode.FrameTooLarge ||
      err.code === ErrorCode.PayloadTooLarge)
  );
}

function asRemote(err: unknown, context: string): OutpostError {
  if (isOutpostError(err)) return err;
  return new RemoteError(ErrorCode.Internal, context, { cause: err });
}

function codeFor(status: number) {
  if (status === 403) return ErrorCode.Forbidden;
  if (status === 404) return ErrorCode.NotFound;
  if (status === 409) return ErrorCode.Conflict;
  if (status === 401) return ErrorCode.Unauthorized;
  return ErrorCode.BadRequest;
}

function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", () => resolve(), { once: true });
  });
}
