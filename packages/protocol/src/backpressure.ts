import { AsyncQueue } from "./async-queue.js";

/** Waiters for a byte count to fall to a level; the building block of `Transport.drain()`. */
export class DrainWaiters {
  private waiters: { level: number; resolve: () => void }[] = [];

  /** Resolves once `update()` reports a count at or below `level`, or on `releaseAll()`. */
  wait(current: number, level: number): Promise<void> {
    if (current <= level) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ level, resolve }));
  }

  /** Tells the waiters the byte count is now `current`. */
  update(current: number): void {
    if (this.waiters.length === 0) return;
    const keep: { level: number; resolve: () => void }[] = [];
    for (const w of this.waiters) {
      if (current <= w.level) w.resolve();
      else keep.push(w);
    }
    this.waiters = keep;
  }

  /** Releases every waiter (the transport closed). */
  releaseAll(): void {
    const all = this.waiters;
    this.waiters = [];
    for (const w of all) w.resolve();
  }
}

/**
 * Byte accounting of what a transport has been given to send and the network has not taken yet:
 * `add()` on send, `done()` when the socket reports the bytes written. Drives `bufferedBytes` and
 * `drain()` of a socket transport.
 */
export class OutboundBytes {
  private pending = 0;
  private readonly drains = new DrainWaiters();
  private closed = false;

  get bytes(): number {
    return this.pending;
  }

  add(n: number): void {
    this.pending += n;
  }

  done(n: number): void {
    if (this.closed) return;
    this.pending = Math.max(0, this.pending - n);
    this.drains.update(this.pending);
  }

  drain(lowWaterBytes = 0): Promise<void> {
    if (this.closed) return Promise.resolve();
    return this.drains.wait(this.pending, lowWaterBytes);
  }

  /** The socket closed: nothing is pending any more (what was unsent is lost with it). */
  close(): void {
    this.closed = true;
    this.pending = 0;
    this.drains.releaseAll();
  }
}

/** Options of {@link InboundFrames}. */
export interface InboundFramesOptions {
  /** Unread bytes at which `pause` is called. */
  highWaterBytes: number;
  /** Stops the socket from reading (the kernel's buffers then push back on the peer). */
  pause(): void;
  /** Lets the socket read again; called once unread bytes are at or below half the high water. */
  resume(): void;
}

/**
 * Received frames waiting for the reader of a socket transport, with backpressure by bytes: the
 * socket is paused while more than `highWaterBytes` wait, so a reader that falls behind makes the
 * peer's sends wait instead of this buffer growing.
 */
export class InboundFrames implements AsyncIterable<Uint8Array> {
  private readonly queue: AsyncQueue<Uint8Array>;
  private unread = 0;
  private paused = false;

  constructor(private readonly options: InboundFramesOptions) {
    this.queue = new AsyncQueue<Uint8Array>((frame) => this.taken(frame.byteLength));
  }

  /** Bytes received and not yet taken by the reader. */
  get bufferedBytes(): number {
    return this.unread;
  }

  push(frame: Uint8Array): void {
    this.unread += frame.byteLength;
    this.queue.push(frame);
    if (!this.paused && this.unread > this.options.highWaterBytes) {
      this.paused = true;
      this.options.pause();
    }
  }

  end(): void {
    this.queue.end();
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return this.queue[Symbol.asyncIterator]();
  }

  private taken(n: number): void {
    this.unread -= n;
    if (this.paused && this.unread <= this.options.highWaterBytes / 2) {
      this.paused = false;
      this.options.resume();
    }
  }
}
