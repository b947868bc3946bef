import { AsyncQueue } from "@outpost/protocol";

/**
 * The connection lifecycle as data:
 * idle -> connecting -> connected -> disconnected (-> connecting ...) ; any -> closed.
 */
export type ConnectionStatus =
  /** Created, `connect()` not called yet. */
  | { type: "idle" }
  /** Opening the connection; `attempt` counts from 1 since the last successful connection. */
  | { type: "connecting"; attempt: number; url: string }
  /**
   * Authenticated and Things bound. `replacedSessionId` is set when this connection took over a live
   * session of the same device: another instance runs with this identity (it gets OUTPOST_CONFLICT).
   */
  | { type: "connected"; url: string; sessionId: string; deviceId: string; replacedSessionId?: string }
  /** Not connected. `retryInMs` is set when a reconnect is scheduled; absent means no retry. */
  | { type: "disconnected"; error?: Error; retryInMs?: number }
  /** `close()` was called; terminal. */
  | { type: "closed" };

/** Broadcasts status changes to any number of async iterators. */
export class StatusFeed {
  private current: ConnectionStatus = { type: "idle" };
  private readonly subscribers = new Set<AsyncQueue<ConnectionStatus>>();

  get status(): ConnectionStatus {
    return this.current;
  }

  set(status: ConnectionStatus): void {
    this.current = status;
    for (const q of this.subscribers) {
      q.push(status);
      if (status.type === "closed") q.end();
    }
    if (status.type === "closed") this.subscribers.clear();
  }

  /** Starts with the current status, then every change; ends after "closed". */
  subscribe(): AsyncIterable<ConnectionStatus> {
    const q = new AsyncQueue<ConnectionStatus>();
    q.push(this.current);
    if (this.current.type === "closed") q.end();
    else this.subscribers.add(q);
    const subscribers = this.subscribers;
    return {
      [Symbol.asyncIterator]() {
        const it = q[Symbol.asyncIterator]();
        return {
          next: () => it.next(),
          return: (value?: unknown) => {
            subscribers.delete(q);
            q.end();
            return Promise.resolve({ value: value as ConnectionStatus, done: true as const });
          },
        };
      },
    };
  }
}
