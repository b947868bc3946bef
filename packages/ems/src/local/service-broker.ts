import { randomBytes } from "node:crypto";
import { ErrorCode, OutpostError, type OutpostValue } from "@outpost/protocol";

/** A service call from the server, waiting for a local process to answer it. */
export interface ServiceCall {
  id: string;
  thing: string;
  service: string;
  params: Record<string, OutpostValue>;
}

interface Pending {
  call: ServiceCall;
  taken: boolean;
  resolve(v: OutpostValue): void;
  reject(e: Error): void;
}

interface Poller {
  key: string;
  resolve(c: ServiceCall | undefined): void;
}

/**
 * Hands service calls from the server to local processes that long-poll for them, and their
 * answers back. A call waits (untaken) until a poller takes it or the server's deadline passes;
 * a taken call waits for its answer until that deadline.
 */
export class ServiceBroker {
  private readonly pending = new Map<string, Pending>();
  private pollers: Poller[] = [];
  /** Calls answered (result or error) and calls that timed out. */
  readonly counters = { calls: 0, answered: 0, failed: 0, expired: 0 };

  constructor(private readonly maxPending = 1_000) {}

  /** Calls waiting to be taken or answered. */
  get size(): number {
    return this.pending.size;
  }

  /** The SDK handler's side: resolves with the local answer, rejects when `signal` aborts first. */
  call(
    thing: string,
    service: string,
    params: Record<string, OutpostValue>,
    signal: AbortSignal,
  ): Promise<OutpostValue> {
    if (this.pending.size >= this.maxPending) {
      return Promise.reject(new OutpostError(ErrorCode.Unavailable, "too many service calls waiting", { status: 503 }));
    }
    this.counters.calls += 1;
    const call: ServiceCall = { id: `call_${randomBytes(9).toString("base64url")}`, thing, service, params };
    return new Promise<OutpostValue>((resolve, reject) => {
      const onAbort = (): void => {
        if (!this.pending.delete(call.id)) return;
        this.counters.expired += 1;
        reject(new OutpostError(ErrorCode.Timeout, `no local answer to ${thing}.${service} in time`, { status: 504 }));
      };
      const entry: Pending = {
        call,
        taken: false,
        resolve: (v) => {
          signal.removeEventListener("abort", onAbort);
          resolve(v);
        },
        reject: (e) => {
          signal.removeEventListener("abort", onAbort);
          reject(e);
        },
      };
      if (signal.aborted) return onAbort();
      signal.addEventListener("abort", onAbort, { once: true });
      this.pending.set(call.id, entry);
      const key = keyOf(thing, service);
      const poller = this.pollers.find((p) => p.key === key);
      if (poller) {
        this.pollers = this.pollers.filter((p) => p !== poller);
        entry.taken = true;
        poller.resolve(call);
      }
    });
  }

  /** The local process's side: the next untaken call of `thing.service`, or undefined after `timeoutMs`. */
  next(thing: string, service: string, timeoutMs: number, signal: AbortSignal): Promise<ServiceCall | undefined> {
    const key = keyOf(thing, service);
    for (const p of this.pending.values()) {
      if (!p.taken && keyOf(p.call.thing, p.call.service) === key) {
        p.taken = true;
        return Promise.resolve(p.call);
      }
    }
    return new Promise((resolve) => {
      const done = (c: ServiceCall | undefined): void => {
        clearTimeout(timer);
        signal.removeEventListener("abort", gone);
        resolve(c);
      };
      const poller: Poller = { key, resolve: done };
      const gone = (): void => {
        this.pollers = this.pollers.filter((p) => p !== poller);
        done(undefined);
      };
      const timer = setTimeout(gone, timeoutMs);
      signal.addEventListener("abort", gone, { once: true });
      this.pollers.push(poller);
    });
  }

  /** Answers a taken call. Returns false when no such call waits (answered, expired or unknown). */
  answer(id: string, outcome: { result: OutpostValue } | { error: { message: string; status: number } }): boolean {
    const p = this.pending.get(id);
    if (!p) return false;
    this.pending.delete(id);
    if ("result" in outcome) {
      this.counters.answered += 1;
      p.resolve(outcome.result);
    } else {
      this.counters.failed += 1;
      p.reject(
        new OutpostError(errorCodeForStatus(outcome.error.status), outcome.error.message, {
          status: outcome.error.status,
        }),
      );
    }
    return true;
  }

  /** Fails every waiting call and poller (the daemon is stopping). */
  close(): void {
    for (const p of this.pending.values())
      p.reject(new OutpostError(ErrorCode.Unavailable, "EMS stopping", { status: 503 }));
    this.pending.clear();
    for (const p of this.pollers) p.resolve(undefined);
    this.pollers = [];
  }
}

function keyOf(thing: string, service: string): string {
  return `${thing}\u0000${service}`;
}

/** The error code a local answer's HTTP status stands for. */
export function errorCodeForStatus(status: number): ErrorCode {
  if (status === 400) return ErrorCode.BadRequest;
  if (status === 403) return ErrorCode.Forbidden;
  if (status === 404) return ErrorCode.NotFound;
  if (status === 409) return ErrorCode.Conflict;
  if (status === 503) return ErrorCode.Unavailable;
  if (status === 504) return ErrorCode.Timeout;
  return ErrorCode.Internal;
}
