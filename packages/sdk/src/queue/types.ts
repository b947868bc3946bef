import type { WireValue } from "@outpost/protocol";

/** One queued property value, in wire form. */
export interface QueuedProperty {
  kind: "property";
  /** Per-device delivery sequence number: monotonic, never reused. */
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

/** What a store returns when the client starts. */
export interface QueueSnapshot {
  /** Items not yet acknowledged, in any order. */
  items: QueueItem[];
  /** The highest seq ever assigned (even if that item was since removed); 0 when unknown. */
  lastSeq: number;
}

/**
 * Persistence of the offline queue. The default keeps everything in memory; a durable store (the
 * EMS's) lets queued data and the seq counter survive restarts. Calls are made one at a time, in
 * order; the client never calls two methods concurrently.
 */
export interface QueueStore {
  /** Called once, before any other method. */
  load(): Promise<QueueSnapshot>;
  /** Persists new items; also records their seqs as assigned (lastSeq never goes down). */
  append(items: readonly QueueItem[]): Promise<void>;
  /** Deletes the items with these seqs (acknowledged or dropped). Unknown seqs are ignored. */
  remove(seqs: readonly number[]): Promise<void>;
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
