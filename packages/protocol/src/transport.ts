import { AsyncQueue } from "./async-queue.js";
import { DrainWaiters } from "./backpressure.js";
import { ConnectionClosedError } from "./errors.js";

/**
 * The one seam between the protocol and the network. A transport moves whole frames; it knows
 * nothing of their content. WebSocket-over-TLS is one implementation (in the SDK and server), the
 * in-memory pair below is another (for fast unit tests).
 */
export interface Transport {
  /** Queues one frame for sending. Throws ConnectionClosedError once the transport is closed. */
  send(frame: Uint8Array): void;
  /** Frames received, in order. Ends when the transport closes. Iterate it once. */
  readonly frames: AsyncIterable<Uint8Array>;
  /** Closes the transport; `error` records why. Resolves when closed. Idempotent. */
  close(error?: Error): Promise<void>;
  /** Resolves when the transport has closed: with the error that closed it, or undefined. */
  closed(): Promise<Error | undefined>;
  /**
   * Bytes given to send() and not yet handed to the network (for the in-memory pair: not yet taken
   * by the peer's reader). Senders of bulk data keep this low so that control frames queued behind
   * it go out promptly.
   */
  readonly bufferedBytes: number;
  /**
   * The drain signal: resolves once {@link bufferedBytes} is at or below `lowWaterBytes` (default
   * 0), or the transport has closed. Never rejects. Several callers may wait at once.
   */
  drain(lowWaterBytes?: number): Promise<void>;
}

class MemoryTransport implements Transport {
  readonly frames = new AsyncQueue<Uint8Array>((frame) => this.peer?.taken(frame.byteLength));
  peer: MemoryTransport | undefined;
  private inFlight = 0;
  private readonly drains = new DrainWaiters();
  private error: Error | undefined;
  private isClosed = false;
  private readonly done: Promise<Error | undefined>;
  private resolveDone!: (e: Error | undefined) => void;

  constructor() {
    this.done = new Promise((r) => {
      this.resolveDone = r;
    });
  }

  get bufferedBytes(): number {
    return this.inFlight;
  }

  drain(lowWaterBytes = 0): Promise<void> {
    if (this.isClosed) return Promise.resolve();
    return this.drains.wait(this.inFlight, lowWaterBytes);
  }

  send(frame: Uint8Array): void {
    if (this.isClosed) throw new ConnectionClosedError("transport is closed");
    // Copy: the sender may reuse its buffer, as it may with a real socket.
    const copy = frame.slice();
    this.inFlight += copy.byteLength;
    queueMicrotask(() => this.peer?.frames.push(copy));
  }

  /** The peer's reader took `n` of our bytes. */
  taken(n: number): void {
    this.inFlight = Math.max(0, this.inFlight - n);
    this.drains.update(this.inFlight);
  }

  async close(error?: Error): Promise<void> {
    this.shutdown(error);
    this.peer?.shutdown(undefined);
  }

  closed(): Promise<Error | undefined> {
    return this.done;
  }

  shutdown(error: Error | undefined): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.error = error;
    this.inFlight = 0;
    this.drains.releaseAll();
    // After frames already in flight (each delivered by its own microtask) have arrived.
    setTimeout(() => {
      this.frames.end();
      this.resolveDone(this.error);
    }, 0);
  }
}

/** Two connected in-memory transports: what one sends, the other receives. For tests. */
export function createMemoryTransportPair(): [Transport, Transport] {
  const a = new MemoryTransport();
  const b = new MemoryTransport();
  a.peer = b;
  b.peer = a;
  return [a, b];
}
