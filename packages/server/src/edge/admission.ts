import type { Socket } from "node:net";

/** Limits of {@link Admission}. */
export interface AdmissionLimits {
  /** Connections between TCP accept and a successful Auth (TLS handshake, upgrade, login) at most. */
  maxInProgress: number;
  /** Accepted connections waiting for one of those slots at most; more are reset at once. */
  maxQueued: number;
  /** A connection that waited this long for a slot is reset instead of started, in ms. */
  queueTimeoutMs: number;
  /** Open connections at most, authenticated or not; more are reset at once. */
  maxConnections: number;
}

/** Why {@link Admission} reset a connection at accept time. */
export type AdmissionRefusal = "queue-full" | "queue-timeout" | "connections";

/** What {@link Admission} reports once per interval while it resets connections. */
export interface AdmissionPressure {
  /** Connections reset since the last report, by reason. */
  refused: Record<AdmissionRefusal, number>;
  inProgress: number;
  queued: number;
  open: number;
}

/** Inputs of {@link Admission}. */
export interface AdmissionOptions extends AdmissionLimits {
  /** Starts the expensive work (TLS handshake) on an admitted socket. */
  start(socket: Socket): void;
  /** Told at most once per `reportIntervalMs` while connections are being reset. */
  onPressure(pressure: AdmissionPressure): void;
  /** Default 10 000 ms. */
  reportIntervalMs?: number;
  /** Clock, for tests. Default `Date.now`. */
  now?: () => number;
}

/**
 * Admits TCP connections before any TLS work: at most `maxInProgress` are between accept and a
 * successful Auth; the next ones wait, unread, in a FIFO of at most `maxQueued` for
 * `queueTimeoutMs`; anything beyond is reset right away, which costs the server one accept and the
 * device one round trip, so a device retries (with its backoff) instead of timing out after a
 * handshake the server had no time to finish. Every operation is O(1) except the periodic sweep,
 * which only drops expired connections from the head of the queue.
 *
 * A slot is freed by {@link authenticated} or by the socket's close, whichever comes first, and
 * handed to the oldest waiting connection that has not expired. Never throws.
 */
export class Admission {
  readonly #o: AdmissionOptions;
  readonly #now: () => number;
  readonly #inProgress = new Set<Socket>();
  #queue: { socket: Socket; at: number }[] = [];
  #head = 0;
  #open = 0;
  #refused: Record<AdmissionRefusal, number> = { "queue-full": 0, "queue-timeout": 0, connections: 0 };
  #lastReport = Number.NEGATIVE_INFINITY;
  readonly #sweep: NodeJS.Timeout;

  constructor(options: AdmissionOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#sweep = setInterval(() => this.#expire(), Math.max(100, Math.min(1_000, options.queueTimeoutMs)));
    this.#sweep.unref();
  }

  /** Connections between accept and Auth now. */
  get inProgress(): number {
    return this.#inProgress.size;
  }

  /** Connections waiting for a slot now. */
  get queued(): number {
    return this.#queue.length - this.#head;
  }

  /** Open connections accepted through this gate. */
  get open(): number {
    return this.#open;
  }

  /** Takes a freshly accepted socket (accepted paused: nothing has been read from it). */
  offer(socket: Socket): void {
    this.#open += 1;
    socket.once("close", () => {
      this.#open -= 1;
      this.#release(socket);
    });
    socket.on("error", () => undefined);
    if (this.#open > this.#o.maxConnections) return this.#refuse(socket, "connections");
    if (this.#inProgress.size < this.#o.maxInProgress && this.queued === 0) return this.#admit(socket);
    if (this.queued >= this.#o.maxQueued) return this.#refuse(socket, "queue-full");
    this.#queue.push({ socket, at: this.#now() });
  }

  /** The connection on `socket` has authenticated: its slot goes to the next one. */
  authenticated(socket: Socket): void {
    this.#release(socket);
  }

  /** Resets every waiting connection and stops the sweep. */
  close(): void {
    clearInterval(this.#sweep);
    while (this.queued > 0) this.#take()!.socket.destroy();
  }

  #admit(socket: Socket): void {
    this.#inProgress.add(socket);
    try {
      this.#o.start(socket);
    } catch {
      socket.destroy();
    }
  }

  #release(socket: Socket): void {
    if (!this.#inProgress.delete(socket)) return;
    while (this.#inProgress.size < this.#o.maxInProgress) {
      const next = this.#next();
      if (!next) return;
      if (!next.socket.destroyed) this.#admit(next.socket);
    }
  }

  /**
   * The connection to start next, after resetting those that waited past the timeout: the oldest,
   * unless the oldest has waited more than half the timeout. Then the queue is backed up and the
   * newest goes first, because a device that has waited that long has little of its own connect
   * timeout left and would likely give up during its handshake, wasting it on both sides.
   */
  #next(): { socket: Socket; at: number } | undefined {
    const now = this.#now();
    while (this.queued > 0) {
      const oldest = this.#queue[this.#head]!;
      if (!oldest.socket.destroyed && now - oldest.at <= this.#o.queueTimeoutMs) break;
      this.#take();
      if (!oldest.socket.destroyed) this.#refuse(oldest.socket, "queue-timeout");
    }
    if (this.queued === 0) return undefined;
    const backedUp = now - this.#queue[this.#head]!.at > this.#o.queueTimeoutMs / 2;
    return backedUp ? this.#queue.pop() : this.#take();
  }

  #take(): { socket: Socket; at: number } | undefined {
    if (this.#head >= this.#queue.length) return undefined;
    const entry = this.#queue[this.#head]!;
    this.#head += 1;
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    return entry;
  }

  #expire(): void {
    const now = this.#now();
    while (this.queued > 0 && now - this.#queue[this.#head]!.at > this.#o.queueTimeoutMs) {
      const entry = this.#take()!;
      if (!entry.socket.destroyed) this.#refuse(entry.socket, "queue-timeout");
    }
    this.#report(now);
  }

  #refuse(socket: Socket, reason: AdmissionRefusal): void {
    this.#refused[reason] += 1;
    // A reset, not a FIN: nothing lingers in TIME_WAIT and the device learns at once.
    if (typeof socket.resetAndDestroy === "function" && !socket.destroyed) socket.resetAndDestroy();
    else socket.destroy();
    this.#report(this.#now());
  }

  #report(now: number): void {
    const refused = this.#refused;
    if (refused["queue-full"] + refused["queue-timeout"] + refused.connections === 0) return;
    if (now - this.#lastReport < (this.#o.reportIntervalMs ?? 10_000)) return;
    this.#lastReport = now;
    this.#refused = { "queue-full": 0, "queue-timeout": 0, connections: 0 };
    try {
      this.#o.onPressure({ refused, inProgress: this.inProgress, queued: this.queued, open: this.#open });
    } catch {
      // Reporting must not stop admission.
    }
  }
}
