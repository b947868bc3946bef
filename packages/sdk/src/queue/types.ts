import type { WireValue } from "@outpost/protocol";

/** One queued property value, in wire form. */
export interface QueuedProperty {
  kind: "property";
  /** Delivery sequence number within the store's epoch: 1, 2, 3, ... in queueing order, never reused. */
  seq: number;
  thing: string;
  name: string;
  value: WireValue;
  timestampMs: number;
  /** Wire quality: 0 good, 1 bad, 2 uncertain. */
  quality: number;
}

/** One queued event, in wire form. */
export interface QueuedEvent {
  kind: "event";
  seq: number;
  thing: string;
  name: string;
  data: Record<string, WireValue>;
  timestampMs: number;
}

/** An item of the offline queue. A durable store must round-trip it exactly (bytes values included). */
export type QueueItem = QueuedProperty | QueuedEvent;

/** What a store reports when the client opens it. */
export interface QueueState {
  /**
   * The queue epoch: a random integer in [1, 2^53) chosen when the store was created, kept with
   * it and never changed (see {@link newQueueEpoch}). Together with `seq` it is the delivery
   * identity of an item: the server remembers what it applied per device and epoch, so a store
   * created anew (new epoch, seqs from 1 again) can never be mistaken for a replay of an older
   * one, whatever the device's clock says.
   */
  epoch: number;
  /** The highest seq ever assigned in this epoch, even if that item was since truncated; 0 for a new store. */
  lastSeq: number;
}

/** Bounds of one {@link QueueStore.read}. */
export interface QueueReadLimits {
  /** At most this many items. */
  maxItems: number;
  /**
   * At most about this many bytes of items (as the store measures them, e.g. its record size),
   * but always at least one item when one is there, whatever its size.
   */
  maxBytes: number;
}

/**
 * Persistence of the offline queue. The default ({@link MemoryQueueStore}) keeps everything in
 * memory; a durable store (the EMS's) lets queued data and the seq counter survive restarts.
 *
 * **Calls.** The client makes one call at a time and waits for it to settle before the next
 * (never two concurrently), in this order: `open` once and first, then `append`, `read` and
 * `truncate` in any interleaving, then `close` once.
 *
 * **Ordering.** Seqs are assigned 1, 2, 3, ... and every `append` carries seqs higher than any
 * earlier one: the store is an append-only log ordered by seq, from which an acknowledged prefix
 * is cut with `truncate`. Not every seq reaches the store (an item dropped or failed before its
 * append leaves a gap): a store must not assume seqs are contiguous.
 *
 * **Durability.** `append` resolves only once the items and the new `lastSeq` are durable (for a
 * file: written and fsync'ed, and the directory fsync'ed when the file was created); the client
 * sends an item only after its append resolved. `open` of a new store resolves only once its
 * epoch is durable. This is what keeps delivery exact across a crash: a seq the server saw is
 * never assigned again within the epoch. `truncate` need not be durable before it resolves: an
 * acknowledged item that reappears after a crash is sent again and the server recognises it.
 *
 * **Failures.** Any method may reject; the client never retries a rejected call, reports the
 * failure through the client's `error` event (`OUTPOST_INTERNAL` with the cause) and carries on:
 * - `open` rejecting: `connect()` fails; it is tried again on the next `connect()`;
 * - `append` rejecting: none of its items is sent, they leave the queue and are reported as
 *   failed (`flush()` does not wait for them). A store should make an append all-or-nothing; an
 *   item that a failed append left behind is read again by the next `open` and then delivered
 *   although it was reported failed (never the reverse: an item reported queued is not lost);
 * - `read` rejecting: the backlog beyond memory waits; the read is tried again a second later;
 * - `truncate` rejecting: harmless, the next truncate covers the same prefix.
 * A store must not throw synchronously.
 *
 * **Bounds.** The client holds at most `QueueOptions.memoryItems` items in memory and reads the
 * rest from the store in pages ({@link QueueStore.read}); the store holds at most
 * `QueueOptions.maxItems` unacknowledged items (the client applies its overflow policy before
 * appending), each no larger than the server's message limit (about 1 MiB by default), plus
 * acknowledged ones until they are truncated.
 */
export interface QueueStore {
  /** Opens the store, creating it (with a new epoch) when there is none. Called once, first. */
  open(): Promise<QueueState>;
  /** Persists new items, in seq order and above every earlier seq; records the last one's seq as `lastSeq`. */
  append(items: readonly QueueItem[]): Promise<void>;
  /** Stored items with seq > `afterSeq`, ascending, within `limits`; [] when there are none. */
  read(afterSeq: number, limits: QueueReadLimits): Promise<QueueItem[]>;
  /** Deletes every item with seq <= `uptoSeq` (acknowledged, refused or dropped). `lastSeq` stays. */
  truncate(uptoSeq: number): Promise<void>;
  /** Releases resources. Optional. */
  close?(): Promise<void>;
}

/** What to do when an item arrives and the queue already holds `maxItems`. */
export type OverflowPolicy = "drop-oldest" | "drop-newest" | "reject";

/** Reported through the client's `queue-overflow` event each time data is dropped or refused. */
export interface QueueOverflowInfo {
  policy: OverflowPolicy;
  /** Items dropped or refused by this overflow. */
  dropped: number;
  /** Items dropped or refused since the client was created. */
  totalDropped: number;
  /** Queue capacity. */
  maxItems: number;
}
