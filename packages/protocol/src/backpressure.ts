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

/** What {@link InboundFrames} stops and restarts: a socket's reading. */
export interface Pausable {
  /** Stops the socket from reading (the kernel's buffers then push back on the peer). */
  pause(): void;
  /** Lets the socket read again; called once unread bytes are at or below half the high water. */
  resume(): void;
}

/** Options of {@link InboundFrames}: `pause` and `resume`, or the `socket` that has them. */
export interface InboundFramesOptions extends Partial<Pausable> {
  /** Unread bytes at which the socket is paused. */
  highWaterBytes: number;
  /** The socket to pause and resume, instead of `pause` and `resume` (nothing to allocate per connection). */
  socket?: Pausable;
}

/**
 * Received frames waiting for the reader of a socket transport, with backpressure by bytes: the
 * socket is paused while more than `highWaterBytes` wait, so a reader that falls behind makes the
 * peer's sends wait instead of this buffer growing. Read it with an iterator or with
 * {@link AsyncQueue.consume}.
 */
export class InboundFrames extends AsyncQueue<Uint8Array> {
  private unread = 0;
  private paused = false;
  private readonly highWater: number;
  private readonly flow: Pausable;

  constructor(options: InboundFramesOptions) {
    super();
    this.highWater = options.highWaterBytes;
    if (options.socket) this.flow = options.socket;
    else if (options.pause && options.resume) this.flow = options as Pausable;
    else throw new TypeError("InboundFrames needs a socket, or pause and resume");
  }

  /** Bytes received and not yet taken by the reader. */
  get bufferedBytes(): number {
    return this.unread;
  }

  override push(frame: Uint8Array): void {
    this.unread += frame.byteLength;
    super.push(frame);
    if (!this.paused && this.unread > this.highWater) {
      this.paused = true;
      this.flow.pause();
    }
  }

  protected override taken(frame: Uint8Array): void {
    this.unread -= frame.byteLength;
    if (this.paused && this.unread <= this.highWater / 2) {
      this.paused = false;
      this.flow.resume();
    }
  }
}
