import { AsyncQueue } from "./async-queue.js";
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
  /** Bytes queued for sending but not yet handed to the network, for backpressure decisions. */
  readonly bufferedBytes: number;
}

class MemoryTransport implements Transport {
  readonly frames = new AsyncQueue<Uint8Array>();
  peer: MemoryTransport | undefined;
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
    return 0;
  }

  send(frame: Uint8Array): void {
    if (this.isClosed) throw new ConnectionClosedError("transport is closed");
    // Copy: the sender may reuse its buffer, as it may with a real socket.
    const copy = frame.slice();
    queueMicrotask(() => this.peer?.frames.push(copy));
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
