import { randomBytes } from "node:crypto";
import type { ThingChange } from "../things/changes.js";
import type { ThingService } from "../things/thing-service.js";
import { toJsonValue } from "../things/values.js";

/** Options for {@link EventLog}. */
export interface EventLogOptions {
  /** Most recent changes kept for replay to reconnecting streams. Default 1 000. */
  maxEvents?: number;
  /** Most bytes of serialized changes kept for replay. Default 8 MiB. */
  maxBytes?: number;
}

/** One change as the event stream sends it. */
export interface LoggedChange {
  /** SSE id: `<instance>-<seq>`, unique across server restarts. */
  id: string;
  seq: number;
  thing: string;
  type: ThingChange["type"];
  /** The property or event name. */
  name: string;
  /** The change as one line of JSON. */
  data: string;
}

/** A change as JSON for the operator API (bytes as {"$bytes": base64}). */
export function changeToJson(change: ThingChange): Record<string, unknown> {
  if (change.type === "property" || change.type === "desired") {
    const value = toJsonValue(change.value);
    // Most values are already JSON: the change is then its own JSON form, without a copy per value.
    return value === change.value ? (change as unknown as Record<string, unknown>) : { ...change, value };
  }
  const data: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(change.data)) data[k] = toJsonValue(v);
  return { ...change, data };
}

/**
 * Most characters of a change's JSON when every field is a string, number, boolean or null (a
 * string may grow 6-fold by escaping; a number is at most 24 characters); undefined for a change
 * with any other field (bytes, maps), which is serialized at once.
 */
function jsonLengthBound(change: ThingChange): number | undefined {
  let n = 2;
  for (const key in change) {
    const v = (change as unknown as Record<string, unknown>)[key];
    n += key.length + 4;
    if (typeof v === "string") n += 2 + 6 * v.length;
    else if (typeof v === "number" || typeof v === "boolean" || v === null || v === undefined) n += 24;
    else return undefined;
  }
  return n;
}

/**
 * A kept change. Its JSON is made when first read (by a stream that sends it), not for every change
 * a device reports: most are never sent. Until then `size` is an upper bound of its length.
 */
class KeptChange implements LoggedChange {
  readonly thing: string;
  readonly type: ThingChange["type"];
  readonly name: string;
  /** Characters of `data`, or an upper bound of them while it is not made yet. */
  readonly size: number;
  #change: ThingChange | undefined;
  #data: string | undefined;

  constructor(
    private readonly instance: string,
    readonly seq: number,
    change: ThingChange,
  ) {
    this.thing = change.thing;
    this.type = change.type;
    this.name = change.name;
    const bound = jsonLengthBound(change);
    if (bound === undefined) {
      this.#data = JSON.stringify(changeToJson(change));
      this.size = this.#data.length;
    } else {
      this.#change = change;
      this.size = bound;
    }
  }

  get id(): string {
    return `${this.instance}-${this.seq}`;
  }

  get data(): string {
    if (this.#data === undefined) {
      this.#data = JSON.stringify(changeToJson(this.#change!));
      this.#change = undefined;
    }
    return this.#data;
  }
}

/** What {@link EventLog.since} found for a Last-Event-ID. */
export interface Replay {
  /** Kept changes after the id, oldest first. */
  changes: LoggedChange[];
  /** True when changes after the id were already dropped from the bounded buffer (or the id is unknown). */
  gap: boolean;
}

/**
 * Numbers every accepted change once and keeps the most recent ones in a bounded buffer, so that
 * an event stream that reconnects with `Last-Event-ID` gets exactly the changes it missed. Ids
 * carry a random instance prefix: an id from before a restart replays everything kept since it.
 */
export class EventLog {
  readonly instance = randomBytes(4).toString("hex");
  private readonly maxEvents: number;
  private readonly maxBytes: number;
  private readonly buffer: KeptChange[] = [];
  private head = 0;
  private bytes = 0;
  private seq = 0;
  private readonly listeners = new Set<(change: LoggedChange) => void>();
  private readonly unsubscribe: () => void;

  constructor(things: ThingService, options: EventLogOptions = {}) {
    this.maxEvents = options.maxEvents ?? 1_000;
    this.maxBytes = options.maxBytes ?? 8 * 1024 * 1024;
    this.unsubscribe = things.subscribe({}, (change) => this.append(change));
  }

  /** Receives every change from now on, synchronously, in order. Returns the unsubscribe function. */
  subscribe(listener: (change: LoggedChange) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** The kept changes after `lastEventId`. */
  since(lastEventId: string): Replay {
    const kept = this.buffer.slice(this.head);
    const firstKept = kept[0]?.seq ?? this.seq + 1;
    const match = /^([0-9a-f]+)-(\d+)$/.exec(lastEventId);
    const after = match?.[1] === this.instance ? Number(match[2]) : 0;
    if (!match || after > this.seq) return { changes: [], gap: true };
    return { changes: kept.filter((c) => c.seq > after), gap: firstKept > after + 1 };
  }

  close(): void {
    this.unsubscribe();
    this.listeners.clear();
  }

  private append(change: ThingChange): void {
    const entry = new KeptChange(this.instance, ++this.seq, change);
    this.buffer.push(entry);
    this.bytes += entry.size;
    while (
      this.buffer.length - this.head > this.maxEvents ||
      (this.bytes > this.maxBytes && this.head < this.buffer.length - 1)
    ) {
      this.bytes -= (this.buffer[this.head] as KeptChange).size;
      this.buffer[this.head++] = undefined as unknown as KeptChange;
    }
    if (this.head > 1024 && this.head * 2 > this.buffer.length) {
      this.buffer.splice(0, this.head);
      this.head = 0;
    }
    for (const listener of this.listeners) listener(entry);
  }
}
