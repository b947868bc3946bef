import type { Transport } from "./transport.js";

/**
 * Something that sends bulk frames in turn with others: a stream. The outbox asks it for one frame
 * at a time when its turn comes and the transport has room.
 */
export interface BulkSource {
  /**
   * The next frame to write, of at most about `maxBytes`, or undefined when the source has nothing
   * it may send now (no data, or no credit). A source that returned undefined is out of the round
   * until it calls {@link Outbox.wake} again.
   */
  nextFrame(maxBytes: number): Uint8Array | undefined;
}

/** Options of an {@link Outbox}. */
export interface OutboxOptions {
  /**
   * Bytes the transport may hold unsent before bulk frames (multipart parts, stream data) wait for
   * its drain signal. Control frames are written at once whatever the level, so this bounds how
   * much bulk data a control frame can find ahead of it in the socket. Default 128 KiB.
   */
  highWaterBytes?: number;
  /** Most bytes per bulk frame. Default 64 KiB. */
  maxBulkFrameBytes?: number;
  /** Called once when writing to the transport fails. */
  onError?: (error: unknown) => void;
}

type Ordered = Uint8Array | Iterator<Uint8Array>;

/**
 * The write side of a connection: a priority lane, an ordered lane and a fair round robin.
 *
 * - **Priority** (`sendNow`): replies, keep-alives and window updates go straight to the transport.
 * - **Ordered** (`sendOrdered`, `sendParts`): the connection's own messages keep their order among
 *   themselves; one that fits a frame goes straight out when nothing of this lane is waiting, a
 *   multipart message goes out part by part as the transport drains.
 * - **Bulk round robin** (`wake`): streams with data and credit send one bounded frame each in
 *   turn, only while the transport holds less than `highWaterBytes`, and only when the ordered lane
 *   is empty.
 */
/** Shared by every outbox until its first bulk source, never written. */
const NO_SOURCES: ReadonlySet<BulkSource> = new Set();

export class Outbox {
  private readonly ordered: Ordered[] = [];
  private readonly ready: BulkSource[] = [];
  private inRound = NO_SOURCES as Set<BulkSource>;
  private readonly highWater: number;
  readonly maxBulkFrameBytes: number;
  private pumping = false;
  private scheduled = false;
  private closed = false;
  private flushWaiters: (() => void)[] = [];
  private readonly onError: ((error: unknown) => void) | undefined;

  constructor(
    private readonly transport: Transport,
    options: OutboxOptions = {},
  ) {
    this.highWater = options.highWaterBytes ?? 128 * 1024;
    this.maxBulkFrameBytes = options.maxBulkFrameBytes ?? 64 * 1024;
    this.onError = options.onError;
  }

  /** Messages of the ordered lane not yet fully written. */
  get orderedPending(): number {
    return this.ordered.length;
  }

  /** Priority lane: writes `frame` now. Throws what the transport throws. */
  sendNow(frame: Uint8Array): void {
    this.transport.send(frame);
  }

  /** Ordered lane, one frame: now when nothing of the lane waits, else after what waits. */
  sendOrdered(frame: Uint8Array): void {
    if (this.ordered.length === 0) {
      this.transport.send(frame);
      return;
    }
    this.ordered.push(frame);
  }

  /** Ordered lane, a multipart message: its frames are made and written one by one as the transport drains. */
  sendParts(parts: Iterator<Uint8Array>): void {
    this.ordered.push(parts);
    this.pump();
  }

  /**
   * A source has something to send (new data or new credit): it joins the round if not in it. The
   * round runs in a microtask, so that what is written in the same turn (a record's pieces, several
   * small writes) leaves in one frame instead of one frame per write.
   */
  wake(source: BulkSource): void {
    if (this.closed || this.inRound.has(source)) return;
    if (this.inRound === NO_SOURCES) this.inRound = new Set();
    this.inRound.add(source);
    this.ready.push(source);
    if (this.pumping || this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  /** Removes a source from the round (its stream was reset). */
  remove(source: BulkSource): void {
    if (!this.inRound.delete(source)) return;
    const i = this.ready.indexOf(source);
    if (i >= 0) this.ready.splice(i, 1);
  }

  /** Resolves once the ordered lane and the round are empty (or the outbox closed). */
  flushed(): Promise<void> {
    if (this.closed || (this.ordered.length === 0 && this.ready.length === 0)) return Promise.resolve();
    return new Promise((resolve) => this.flushWaiters.push(resolve));
  }

  /** Drops everything queued; later calls to wake() do nothing. */
  close(): void {
    this.closed = true;
    this.ordered.length = 0;
    this.ready.length = 0;
    this.inRound.clear();
    this.settleFlush();
  }

  private pump(): void {
    if (this.pumping || this.closed) return;
    this.pumping = true;
    void this.run();
  }

  private async run(): Promise<void> {
    try {
      while (!this.closed) {
        if (this.transport.bufferedBytes > this.highWater) {
          await this.transport.drain(this.highWater / 2);
          continue;
        }
        const frame = this.next();
        if (!frame) break;
        this.transport.send(frame);
      }
    } catch (err) {
      this.close();
      this.onError?.(err);
    } finally {
      this.pumping = false;
    }
    if (this.ordered.length === 0 && this.ready.length === 0) this.settleFlush();
  }

  private next(): Uint8Array | undefined {
    while (this.ordered.length > 0) {
      const head = this.ordered[0]!;
      if (head instanceof Uint8Array) {
        this.ordered.shift();
        return head;
      }
      const r = head.next();
      if (!r.done) return r.value;
      this.ordered.shift();
    }
    while (this.ready.length > 0) {
      const source = this.ready.shift()!;
      const frame = source.nextFrame(this.maxBulkFrameBytes);
      if (frame) {
        this.ready.push(source);
        return frame;
      }
      this.inRound.delete(source);
    }
    return undefined;
  }

  private settleFlush(): void {
    const waiters = this.flushWaiters;
    this.flushWaiters = [];
    for (const w of waiters) w();
  }
}
