import { AsyncQueue, ConnectionClosedError } from "@outpost/protocol";
import type { Transport } from "../../src/transport/transport.js";

class MemoryTransport implements Transport {
  readonly frames = new AsyncQueue<Uint8Array>();
  peer: MemoryTransport | undefined;
  private isClosed = false;
  private error: Error | undefined;
  private resolveDone!: (e: Error | undefined) => void;
  private readonly done = new Promise<Error | undefined>((r) => {
    this.resolveDone = r;
  });

  get bufferedBytes(): number {
    return 0;
  }

  send(frame: Uint8Array): void {
    if (this.isClosed) throw new ConnectionClosedError("transport is closed");
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
    // After frames already in flight (queued by microtask) have been delivered.
    setTimeout(() => {
      this.frames.end();
      this.resolveDone(this.error);
    }, 0);
  }
}

/** Two connected in-memory transports, for tests. */
export function memoryPair(): [Transport, Transport] {
  const a = new MemoryTransport();
  const b = new MemoryTransport();
  a.peer = b;
  b.peer = a;
  return [a, b];
}
