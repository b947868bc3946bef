import type { Clock } from "./clock.js";
import { AbortError, ConnectionClosedError, TimeoutError } from "./errors.js";

const MAX_REQUEST_ID = 0xffffffff;

interface Pending<T> {
  resolve(value: T): void;
  reject(error: Error): void;
  timer: unknown;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/** Options of one {@link RequestTable.register} call. */
export interface RegisterOptions {
  /** Rejects with TimeoutError after this many ms. 0 or Infinity: no timeout. */
  timeoutMs: number;
  /** Rejects with AbortError when aborted. */
  signal?: AbortSignal | undefined;
}

/**
 * Our outstanding requests, keyed by request id: allocates ids (non-zero uint32, never one in use,
 * wrapping after 2^32-1), owns their timeouts and abort listeners, and settles them exactly once.
 */
/** Shared by every table until its first request, never written. */
const NO_REQUESTS = new Map<number, never>();

export class RequestTable<T> {
  private pending: Map<number, Pending<T>> = NO_REQUESTS;
  private next = 1;
  private wrapped = false;

  constructor(private readonly clock: Clock) {}

  get size(): number {
    return this.pending.size;
  }

  /** A fresh id not currently in use. */
  allocate(): number {
    for (;;) {
      const id = this.next;
      this.next = id >= MAX_REQUEST_ID ? 1 : id + 1;
      if (this.next === 1) this.wrapped = true;
      if (!this.pending.has(id)) return id;
    }
  }

  /** True when `id` is or was one of our request ids (a late reply to it is not a violation). */
  wasIssued(id: number): boolean {
    return id > 0 && (this.wrapped || id < this.next);
  }

  has(id: number): boolean {
    return this.pending.has(id);
  }

  /** Registers request `id`; the promise settles through resolve/reject/timeout/abort/close. */
  register(id: number, options: RegisterOptions): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const { signal, timeoutMs } = options;
      if (signal?.aborted) {
        reject(new AbortError("request aborted", { cause: signal.reason }));
        return;
      }
      const entry: Pending<T> = { resolve, reject, timer: undefined, signal, onAbort: undefined };
      if (timeoutMs > 0 && Number.isFinite(timeoutMs)) {
        entry.timer = this.clock.setTimeout(
          () => this.reject(id, new TimeoutError(`no reply to request ${id} within ${timeoutMs} ms`)),
          timeoutMs,
        );
      }
      if (signal) {
        entry.onAbort = () => this.reject(id, new AbortError("request aborted", { cause: signal.reason }));
        signal.addEventListener("abort", entry.onAbort, { once: true });
      }
      if (this.pending === NO_REQUESTS) this.pending = new Map();
      this.pending.set(id, entry);
    });
  }

  /** Resolves request `id`. Returns false when it is not pending. */
  resolve(id: number, value: T): boolean {
    const entry = this.take(id);
    entry?.resolve(value);
    return entry !== undefined;
  }

  /** Rejects request `id`. Returns false when it is not pending. */
  reject(id: number, error: Error): boolean {
    const entry = this.take(id);
    entry?.reject(error);
    return entry !== undefined;
  }

  /** Rejects every pending request with ConnectionClosedError whose cause is `cause`. */
  rejectAll(cause: Error | undefined): void {
    for (const id of [...this.pending.keys()]) {
      this.reject(
        id,
        new ConnectionClosedError("connection closed before the reply", cause === undefined ? {} : { cause }),
      );
    }
  }

  private take(id: number): Pending<T> | undefined {
    const entry = this.pending.get(id);
    if (!entry) return undefined;
    this.pending.delete(id);
    if (entry.timer !== undefined) this.clock.clearTimeout(entry.timer);
    if (entry.signal && entry.onAbort) entry.signal.removeEventListener("abort", entry.onAbort);
    return entry;
  }
}
