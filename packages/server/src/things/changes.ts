import type { OutpostValue } from "@outpost/protocol";
import type { QualityName } from "./values.js";

/** A property value reported by a device and accepted by the server. */
export interface PropertyChange {
  type: "property";
  deviceId: string;
  thing: string;
  name: string;
  value: OutpostValue;
  timestampMs: number;
  quality: QualityName;
}

/** An event emitted by a device and accepted by the server. */
export interface EventOccurrence {
  type: "event";
  deviceId: string;
  thing: string;
  name: string;
  data: Record<string, OutpostValue>;
  timestampMs: number;
}

/**
 * What became of a property write held as desired state for an offline device: `held` (stored,
 * the device is offline), `applied` (the device confirmed it on reconnect), `refused` (the device
 * or a permission check refused it; `code` says why), `expired` (not applied in time) or `cleared`
 * (an operator removed it).
 */
export type DesiredOutcome = "held" | "applied" | "refused" | "expired" | "cleared";

/** A desired-state outcome for one property. */
export interface DesiredChange {
  type: "desired";
  deviceId: string;
  thing: string;
  name: string;
  value: OutpostValue;
  outcome: DesiredOutcome;
  /** Operator who wrote the value. */
  setBy: string;
  /** Milliseconds since epoch of the write. */
  setAt: number;
  /** Milliseconds since epoch after which the value is no longer applied. */
  expiresAt: number;
  /** Milliseconds since epoch of this outcome. */
  timestampMs: number;
  /** Stable error code of a refusal. */
  code?: string;
  /** The refusal's message. */
  message?: string;
}

/** What subscribers receive. */
export type ThingChange = PropertyChange | EventOccurrence | DesiredChange;

/** Which changes a subscriber wants. Every field narrows; an empty filter matches everything. */
export interface ChangeFilter {
  /** Only changes of this Thing. Default: every Thing. */
  thing?: string;
  /** Only these kinds. Default: every kind. */
  types?: readonly ThingChange["type"][];
  /** Only changes of Things this predicate accepts (e.g. a permission check). Default: all. */
  accept?: (thing: string) => boolean;
}

/** Receives matching changes, synchronously, in the order the server accepted them. */
export type ChangeListener = (change: ThingChange) => void;

/** Fan-out of accepted property changes and events to subscribers. A throwing listener is isolated. */
export class ChangeHub {
  private readonly subscribers = new Set<{ filter: ChangeFilter; listener: ChangeListener }>();

  constructor(private readonly onListenerError: (err: unknown) => void = () => {}) {}

  /** Adds a subscriber; the returned function removes it. */
  subscribe(filter: ChangeFilter, listener: ChangeListener): () => void {
    const entry = { filter, listener };
    this.subscribers.add(entry);
    return () => {
      this.subscribers.delete(entry);
    };
  }

  get size(): number {
    return this.subscribers.size;
  }

  publish(change: ThingChange): void {
    for (const { filter, listener } of this.subscribers) {
      if (filter.thing !== undefined && filter.thing !== change.thing) continue;
      if (filter.types && !filter.types.includes(change.type)) continue;
      if (filter.accept && !filter.accept(change.thing)) continue;
      try {
        listener(change);
      } catch (err) {
        this.onListenerError(err);
      }
    }
  }
}
