import { ErrorCode, OutpostError, ProtocolError } from "./errors.js";

/** Which end of the connection a stream id allocator serves: devices use odd ids, servers even. */
export type StreamSide = "device" | "server";

/** Largest stream id (uint32). */
export const MAX_STREAM_ID = 0xffffffff;
/** Largest flow-control window, as in HTTP/2: credit beyond it is a peer error. */
export const MAX_WINDOW_BYTES = 0x7fffffff;

/** Options of a {@link StreamIdAllocator}. */
export interface StreamIdAllocatorOptions {
  /** Our side: "device" allocates odd ids (1, 3, 5...), "server" even ids (2, 4, 6...). */
  side: StreamSide;
  /** Most streams we may have open that we opened: the peer's announced `maxStreams`. Default 256. */
  maxLocalOpen?: number;
  /** Most streams we accept that the peer opened: our own `maxStreams`. Default 256. */
  maxRemoteOpen?: number;
  /** Highest id either side may use. Default {@link MAX_STREAM_ID}; lower only for tests. */
  maxStreamId?: number;
}

/**
 * Stream ids for one connection. Each side has its own id space (odd for the device, even for the
 * server) and its own open-stream limit, so a peer that holds its streams open cannot stop us from
 * opening ours. Ids only ever increase, so an id is never reused on a connection, not even one the
 * other side refused (a late frame for a closed stream cannot be mistaken for a new one); when our
 * half of the id space is used up, allocate() throws OUTPOST_TOO_MANY_STREAMS and the connection
 * must be reopened.
 */
export class StreamIdAllocator {
  private readonly side: StreamSide;
  private maxLocalOpen: number;
  private readonly maxRemoteOpen: number;
  private readonly maxStreamId: number;
  private readonly local = new Set<number>();
  private readonly remote = new Set<number>();
  private nextLocal: number;
  private lastRemote = 0;

  constructor(options: StreamIdAllocatorOptions) {
    this.side = options.side;
    this.maxLocalOpen = options.maxLocalOpen ?? 256;
    this.maxRemoteOpen = options.maxRemoteOpen ?? 256;
    this.maxStreamId = options.maxStreamId ?? MAX_STREAM_ID;
    this.nextLocal = this.side === "device" ? 1 : 2;
  }

  /** Streams currently open, ours and the peer's. */
  get openCount(): number {
    return this.local.size + this.remote.size;
  }

  /** Streams we opened that are still open. */
  get localOpenCount(): number {
    return this.local.size;
  }

  /** Streams the peer opened that are still open. */
  get remoteOpenCount(): number {
    return this.remote.size;
  }

  /** Changes how many streams we may open (the peer announced its `maxStreams`). */
  setMaxLocalOpen(n: number): void {
    this.maxLocalOpen = n;
  }

  /** True when `id` has our parity (we allocated it, or would). */
  isLocal(id: number): boolean {
    return id % 2 === (this.side === "device" ? 1 : 0);
  }

  isOpen(id: number): boolean {
    return this.local.has(id) || this.remote.has(id);
  }

  /**
   * True when `id` was used on this connection and is closed now: a frame for it is late, not an
   * error. Ids neither side has used yet are not "closed".
   */
  wasClosed(id: number): boolean {
    if (this.isOpen(id)) return false;
    return this.isLocal(id) ? id > 0 && id < this.nextLocal : id > 0 && id <= this.lastRemote;
  }

  /** A fresh id for a stream we open. Throws OutpostError OUTPOST_TOO_MANY_STREAMS. */
  allocate(): number {
    if (this.local.size >= this.maxLocalOpen) {
      throw new OutpostError(
        ErrorCode.TooManyStreams,
        `${this.local.size} streams of ours open, the peer accepts ${this.maxLocalOpen}`,
      );
    }
    const id = this.nextLocal;
    if (id > this.maxStreamId) {
      throw new OutpostError(ErrorCode.TooManyStreams, "stream ids exhausted on this connection; reconnect");
    }
    this.nextLocal = id + 2;
    this.local.add(id);
    return id;
  }

  /**
   * Registers a stream the peer opens. Its id must have the peer's parity and be higher than every
   * id the peer used before, refused ones included. Throws ProtocolError OUTPOST_FLOW_CONTROL for a
   * bad id and OUTPOST_TOO_MANY_STREAMS when over `maxRemoteOpen` (refuse the stream with a reset
   * rather than closing the connection; its id is used up all the same).
   */
  accept(id: number): void {
    if (!Number.isInteger(id) || id <= 0 || id > this.maxStreamId || this.isLocal(id)) {
      throw new ProtocolError(ErrorCode.FlowControl, `stream id ${id} is not a valid peer stream id`);
    }
    if (id <= this.lastRemote) {
      throw new ProtocolError(ErrorCode.FlowControl, `stream id ${id} reused or out of order`);
    }
    this.lastRemote = id;
    if (this.remote.size >= this.maxRemoteOpen) {
      throw new OutpostError(
        ErrorCode.TooManyStreams,
        `${this.remote.size} peer streams open, at most ${this.maxRemoteOpen}`,
      );
    }
    this.remote.add(id);
  }

  /** Marks a stream closed. Its id is not handed out again. Returns false when it was not open. */
  release(id: number): boolean {
    return this.local.delete(id) || this.remote.delete(id);
  }
}

interface CreditWaiter {
  readonly max: number;
  resolve(n: number): void;
  reject(e: Error): void;
}

/**
 * What we may still send on one stream (or on the whole connection): credit granted by the peer
 * minus bytes sent. Sending beyond credit is a bug; the peer would close the connection for it.
 */
export class SendWindow {
  private credit: number;
  private waiters: CreditWaiter[] = [];
  private closedWith: Error | undefined;

  /** `initial` is the peer's announced window. */
  constructor(initial: number) {
    if (!Number.isInteger(initial) || initial < 0 || initial > MAX_WINDOW_BYTES) {
      throw new ProtocolError(ErrorCode.FlowControl, `initial window ${initial} out of range`);
    }
    this.credit = initial;
  }

  /** Bytes we may send now. */
  get available(): number {
    return this.credit;
  }

  /** Callers of {@link acquire} still waiting for credit. */
  get waiting(): number {
    return this.waiters.length;
  }

  /** Records `n` bytes sent. Throws OUTPOST_FLOW_CONTROL when `n` exceeds the credit. */
  consume(n: number): void {
    if (!Number.isInteger(n) || n < 0) throw new OutpostError(ErrorCode.FlowControl, `cannot consume ${n} bytes`);
    if (n > this.credit) {
      throw new OutpostError(ErrorCode.FlowControl, `sending ${n} bytes with only ${this.credit} bytes of credit`);
    }
    this.credit -= n;
  }

  /** Takes up to `max` bytes of credit and returns how many were taken (0 when none is available). */
  take(max: number): number {
    const n = Math.max(0, Math.min(max, this.credit));
    this.credit -= n;
    return n;
  }

  /**
   * Adds credit from the peer's window update and hands it to waiting {@link acquire} callers in
   * the order they asked, each taking what it asked for, until the credit is spent: a 1-byte
   * grant wakes one waiter, not all of them. A zero or negative increment, or a window beyond
   * {@link MAX_WINDOW_BYTES}, is a peer error: ProtocolError OUTPOST_FLOW_CONTROL.
   */
  grant(n: number): void {
    if (!Number.isInteger(n) || n <= 0) throw new ProtocolError(ErrorCode.FlowControl, `window increment ${n} invalid`);
    if (this.credit + n > MAX_WINDOW_BYTES) {
      throw new ProtocolError(ErrorCode.FlowControl, "window update overflows the maximum window");
    }
    this.credit += n;
    while (this.credit > 0 && this.waiters.length > 0) {
      const w = this.waiters.shift()!;
      w.resolve(this.take(w.max));
    }
  }

  /**
   * Takes between 1 and `max` bytes of credit, waiting for a grant when none is available; resolves
   * with the bytes taken. Waiters are served first come, first served. Rejects with the close error,
   * or OUTPOST_ABORTED when `signal` aborts (nothing is taken then).
   */
  acquire(max: number, signal?: AbortSignal): Promise<number> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    if (!Number.isInteger(max) || max <= 0) return Promise.reject(new RangeError(`cannot acquire ${max} bytes`));
    if (signal?.aborted) return Promise.reject(abortError(signal));
    if (this.credit > 0 && this.waiters.length === 0) return Promise.resolve(this.take(max));
    return new Promise<number>((resolve, reject) => {
      const onAbort = () => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(abortError(signal!));
      };
      const waiter: CreditWaiter = {
        max,
        resolve: (n) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(n);
        },
        reject: (e) => {
          signal?.removeEventListener("abort", onAbort);
          reject(e);
        },
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  /** Fails every current and future acquire() with `error`. */
  close(error: Error): void {
    this.closedWith = error;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.reject(error);
  }
}

function abortError(signal: AbortSignal): OutpostError {
  return new OutpostError(ErrorCode.Aborted, "waiting for credit aborted", { cause: signal.reason });
}

/**
 * Takes credit for one data frame from a stream's window and the connection's window together:
 * up to `max` bytes, no more than either holds. Returns 0 (taking nothing) when either is empty.
 */
export function takeCredit(stream: SendWindow, connection: SendWindow, max: number): number {
  const n = Math.min(max, stream.available, connection.available);
  if (n <= 0) return 0;
  stream.consume(n);
  connection.consume(n);
  return n;
}

/** Options of a {@link ReceiveWindow}. */
export interface ReceiveWindowOptions {
  /** Send a window update once this many consumed bytes have not been granted back. Default half the window. */
  updateThreshold?: number;
}

/**
 * What the peer may still send us on one stream (or on the whole connection), and when to grant
 * more. Bytes received but not yet consumed by the application never exceed the window, so memory
 * stays bounded.
 */
export class ReceiveWindow {
  private received = 0;
  private consumedBytes = 0;
  private granted = 0;
  private readonly threshold: number;

  /** `window` is the credit we announced (and the most we buffer). */
  constructor(
    readonly window: number,
    options: ReceiveWindowOptions = {},
  ) {
    if (!Number.isInteger(window) || window <= 0 || window > MAX_WINDOW_BYTES) {
      throw new OutpostError(ErrorCode.InvalidConfig, `window ${window} out of range`);
    }
    this.threshold = Math.max(1, Math.min(window, options.updateThreshold ?? Math.ceil(window / 2)));
  }

  /** Bytes received and not yet consumed. */
  get buffered(): number {
    return this.received - this.consumedBytes;
  }

  /** Credit the peer still holds. */
  get remaining(): number {
    return this.window + this.granted - this.received;
  }

  /** Records `n` bytes from the peer. More than its credit is ProtocolError OUTPOST_FLOW_CONTROL. */
  receive(n: number): void {
    if (!Number.isInteger(n) || n < 0) throw new ProtocolError(ErrorCode.FlowControl, `received ${n} bytes`);
    if (n > this.remaining) {
      throw new ProtocolError(ErrorCode.FlowControl, `peer sent ${n} bytes with ${this.remaining} bytes of credit`);
    }
    this.received += n;
  }

  /**
   * Records that the application consumed `n` buffered bytes. Returns the increment to send in a
   * window update now, or 0 while fewer than `updateThreshold` bytes await granting.
   */
  consume(n: number): number {
    if (!Number.isInteger(n) || n < 0 || n > this.buffered) {
      throw new OutpostError(ErrorCode.FlowControl, `cannot consume ${n} of ${this.buffered} buffered bytes`);
    }
    this.consumedBytes += n;
    const owed = this.consumedBytes - this.granted;
    if (owed < this.threshold) return 0;
    this.granted += owed;
    return owed;
  }
}
