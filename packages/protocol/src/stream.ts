import { ErrorCode, OutpostError } from "./errors.js";
import type { ReceiveWindow, SendWindow } from "./flow.js";
import type { BulkSource } from "./outbox.js";

/** Codes of `StreamReset.code`. 256 and above are free for applications (files, tunnels). */
export const StreamResetCode = {
  /** The sender gave up on the stream; no error. */
  Cancel: 0,
  /** The receiver does not serve this stream type, or no one accepts streams. */
  Refused: 1,
  /** The receiver already has its `maxStreams` streams of ours open. */
  TooManyStreams: 2,
  /** A flow-control rule was broken on this stream. */
  FlowControl: 3,
  /** The other side failed while handling the stream. */
  Internal: 4,
} as const;

/** Why a stream was reset: OUTPOST_STREAM_RESET, with the wire code and which side reset it. */
export class StreamResetError extends OutpostError {
  constructor(
    /** `StreamReset.code`; see {@link StreamResetCode}. */
    readonly resetCode: number,
    /** True when the peer reset the stream, false when this side did. */
    readonly remote: boolean,
    message: string,
    options?: ErrorOptions,
  ) {
    super(
      resetCode === StreamResetCode.TooManyStreams ? ErrorCode.TooManyStreams : ErrorCode.StreamReset,
      message,
      options,
    );
    this.name = "StreamResetError";
  }
}

/** Options of one {@link Stream.write}. */
export interface StreamWriteOptions {
  /** Rejects with OUTPOST_ABORTED while waiting; the chunk stays queued (reset the stream to drop it). */
  signal?: AbortSignal;
}

/** What a stream needs from the connection it is multiplexed on. */
export interface StreamHost {
  /** The stream has something to send: put it in the round robin. */
  wake(stream: Stream): void;
  /** Takes the stream frame's credit from the stream's and the connection's send windows. */
  takeCredit(stream: Stream, max: number): number;
  /** Encodes one data frame of the stream whose data is `parts` in order, `byteLength` bytes in all. */
  encodeData(id: number, parts: readonly Uint8Array[], byteLength: number, fin: boolean): Uint8Array;
  /** The application consumed `n` received bytes: return credit to the peer. */
  consumed(stream: Stream, n: number): void;
  /** Sends StreamReset at once (priority lane) and forgets the stream. */
  reset(stream: Stream, code: number, message: string): void;
  /** Both directions are done: forget the stream. */
  finished(stream: Stream): void;
}

const FRAME_OVERHEAD_BYTES = 24;
const EMPTY_PARTS: readonly Uint8Array[] = [];

/**
 * One bidirectional byte stream multiplexed on a connection (files and tunnels ride on these).
 *
 * Writing: `write()` queues a chunk and resolves once at most `writeHighWaterBytes` of this
 * stream's data wait unsent (backpressure as a promise); `tryWrite()` + `drained()` is the same as
 * a boolean and a drain signal. Data leaves in bounded frames, in turn with other streams, as the
 * peer grants credit. `end()` half-closes our direction after what is queued.
 *
 * Reading: iterate the stream (`for await (const chunk of stream)`) or give `onData()` a callback;
 * credit is returned to the peer only as chunks are taken, so bytes buffered here never exceed the
 * stream's receive window and a slow reader slows only its own stream. The iteration ends at the
 * peer's `fin` and throws {@link StreamResetError} on a reset.
 *
 * `reset(code)` ends both directions at once and discards what is queued either way.
 */
export class Stream implements AsyncIterable<Uint8Array>, BulkSource {
  private readonly outgoing: Uint8Array[] = [];
  private outgoingOffset = 0;
  private queued = 0;
  private finQueued = false;
  private finSent = false;
  private writeWaiters: { resolve(): void; reject(e: Error): void }[] = [];
  private endWaiters: { resolve(): void; reject(e: Error): void }[] = [];

  private readonly incoming: Uint8Array[] = [];
  private finReceived = false;
  private readWaiter: { resolve(r: IteratorResult<Uint8Array>): void; reject(e: Error): void } | undefined;
  private iterated = false;

  private failure: OutpostError | undefined;
  private isFinished = false;
  private readonly done: Promise<Error | undefined>;
  private resolveDone!: (e: Error | undefined) => void;

  /** @internal Created by the connection's stream multiplexer. */
  constructor(
    /** Stream id (odd: opened by the device, even: by the server). */
    readonly id: number,
    /** What the stream is for, from its StreamOpen (e.g. "file", "tunnel"). */
    readonly type: string,
    /** The opener's parameters, from its StreamOpen. */
    readonly header: Uint8Array,
    /** True when this side opened the stream. */
    readonly local: boolean,
    /** @internal */ readonly sendWindow: SendWindow,
    /** @internal */ readonly receiveWindow: ReceiveWindow,
    private readonly host: StreamHost,
    private readonly writeHighWaterBytes: number,
  ) {
    this.done = new Promise((r) => {
      this.resolveDone = r;
    });
  }

  /** Bytes written and not yet sent (waiting for credit or for their turn). */
  get queuedBytes(): number {
    return this.queued;
  }

  /** Bytes received and not yet read by the application (never more than the receive window). */
  get bufferedBytes(): number {
    return this.receiveWindow.buffered;
  }

  /** Bytes we may still send before the peer grants more (stream window only). */
  get sendCredit(): number {
    return this.sendWindow.available;
  }

  /**
   * Queues `chunk` (the stream keeps a reference: do not reuse it) and resolves once no more than
   * `writeHighWaterBytes` of this stream wait unsent. Rejects with StreamResetError after a reset,
   * OUTPOST_CONNECTION_CLOSED after the connection closed, and a plain OutpostError after end().
   */
  write(chunk: Uint8Array, options: StreamWriteOptions = {}): Promise<void> {
    try {
      this.tryWrite(chunk);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.drained(options.signal);
  }

  /**
   * Queues `chunk` and returns true while at most `writeHighWaterBytes` wait unsent; false means
   * wait for {@link drained} before writing more. Throws like {@link write} rejects.
   */
  tryWrite(chunk: Uint8Array): boolean {
    this.checkWritable();
    if (chunk.byteLength > 0) {
      this.outgoing.push(chunk);
      this.queued += chunk.byteLength;
      this.host.wake(this);
    }
    return this.queued <= this.writeHighWaterBytes;
  }

  /** Resolves once at most `writeHighWaterBytes` wait unsent: the drain signal of this stream. */
  drained(signal?: AbortSignal): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.queued <= this.writeHighWaterBytes) return Promise.resolve();
    return waitFor(this.writeWaiters, signal);
  }

  /**
   * Half-closes: no more writes; `fin` follows the queued data. Resolves once it has been handed to
   * the transport. The peer may keep sending until it ends too.
   */
  end(signal?: AbortSignal): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (!this.finQueued) {
      this.finQueued = true;
      this.host.wake(this);
    }
    if (this.finSent) return Promise.resolve();
    return waitFor(this.endWaiters, signal);
  }

  /** Ends both directions now with `code` (see {@link StreamResetCode}); queued data is dropped. Idempotent. */
  reset(code: number = StreamResetCode.Cancel, message = ""): void {
    if (this.failure || this.isFinished) return;
    this.host.reset(this, code, message);
    this.terminate(new StreamResetError(code, false, message || `stream ${this.id} reset (code ${code})`));
  }

  /** Next received chunk, or undefined at the peer's fin. Rejects with StreamResetError on reset. */
  read(): Promise<Uint8Array | undefined> {
    const chunk = this.incoming.shift();
    if (chunk) {
      this.host.consumed(this, chunk.byteLength);
      return Promise.resolve(chunk);
    }
    if (this.failure) return Promise.reject(this.failure);
    if (this.finReceived) return Promise.resolve(undefined);
    if (this.readWaiter) return Promise.reject(new TypeError("only one read() at a time"));
    return new Promise<IteratorResult<Uint8Array>>((resolve, reject) => {
      this.readWaiter = { resolve, reject };
    }).then((r) => (r.done ? undefined : r.value));
  }

  /**
   * Reads by callback: `onChunk` gets each chunk in order, and the next one only after the promise
   * it returns (if any) settles, so a slow handler slows the peer's sending on this stream only.
   * `onEnd` gets undefined at the peer's fin, or the error (reset, connection closed, or what
   * `onChunk` threw; a throwing handler resets the stream with code Internal).
   */
  onData(onChunk: (chunk: Uint8Array) => void | Promise<void>, onEnd?: (error?: Error) => void): void {
    void (async () => {
      try {
        for await (const chunk of this) await onChunk(chunk);
        onEnd?.();
      } catch (err) {
        const error = err instanceof Error ? err : new Error(String(err));
        if (!(error instanceof StreamResetError) && !isConnectionClosed(error)) {
          this.reset(StreamResetCode.Internal, "stream handler failed");
        }
        onEnd?.(error);
      }
    })();
  }

  /** Resolves when both directions are done: undefined after fin both ways, else the error (reset, connection closed). */
  closed(): Promise<Error | undefined> {
    return this.done;
  }

  /** Resets the stream (code Cancel) unless it has already finished. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.reset(StreamResetCode.Cancel);
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    if (this.iterated) throw new TypeError("a stream can be iterated only once");
    this.iterated = true;
    return {
      next: async () => {
        const chunk = await this.read();
        return chunk === undefined ? { value: undefined, done: true } : { value: chunk, done: false };
      },
      return: async () => {
        if (!this.finReceived) this.reset(StreamResetCode.Cancel, "reader stopped");
        return { value: undefined, done: true };
      },
    };
  }

  /**
   * @internal BulkSource: the next data frame, when there is data (or a fin) and credit. Queued
   * chunks are gathered by reference up to the frame's size and copied once, into the frame.
   */
  nextFrame(maxBytes: number): Uint8Array | undefined {
    if (this.failure) return undefined;
    if (this.outgoing.length === 0) {
      if (this.finQueued && !this.finSent) return this.sendFin(EMPTY_PARTS, 0);
      return undefined;
    }
    const n = this.host.takeCredit(this, Math.min(this.queued, Math.max(1, maxBytes - FRAME_OVERHEAD_BYTES)));
    if (n === 0) return undefined;
    const parts: Uint8Array[] = [];
    for (let left = n; left > 0;) {
      const head = this.outgoing[0]!;
      const take = Math.min(head.byteLength - this.outgoingOffset, left);
      parts.push(head.subarray(this.outgoingOffset, this.outgoingOffset + take));
      this.outgoingOffset += take;
      left -= take;
      if (this.outgoingOffset === head.byteLength) {
        this.outgoing.shift();
        this.outgoingOffset = 0;
      }
    }
    this.queued -= n;
    if (this.queued <= this.writeHighWaterBytes) settle(this.writeWaiters);
    if (this.outgoing.length === 0 && this.finQueued) return this.sendFin(parts, n);
    return this.host.encodeData(this.id, parts, n, false);
  }

  /** @internal Data from the peer, already checked against the windows. */
  receiveData(data: Uint8Array, fin: boolean): void {
    if (this.failure) return;
    if (data.byteLength > 0) {
      const w = this.readWaiter;
      if (w) {
        this.readWaiter = undefined;
        this.host.consumed(this, data.byteLength);
        w.resolve({ value: data, done: false });
      } else {
        this.incoming.push(data);
      }
    }
    if (fin) {
      this.finReceived = true;
      const w = this.readWaiter;
      this.readWaiter = undefined;
      w?.resolve({ value: undefined, done: true });
      this.maybeFinished();
    }
  }

  /** @internal True once the peer's fin arrived. */
  get peerEnded(): boolean {
    return this.finReceived;
  }

  /** @internal New credit from the peer. */
  granted(): void {
    if (this.queued > 0 || (this.finQueued && !this.finSent)) this.host.wake(this);
  }

  /** @internal Reset by the peer, or the connection closed. */
  terminate(error: StreamResetError | OutpostError): void {
    if (this.failure || this.isFinished) return;
    this.failure = error;
    const surfaced = error;
    this.outgoing.length = 0;
    this.queued = 0;
    this.incoming.length = 0;
    this.sendWindow.close(surfaced);
    rejectAll(this.writeWaiters, surfaced);
    rejectAll(this.endWaiters, surfaced);
    const w = this.readWaiter;
    this.readWaiter = undefined;
    w?.reject(surfaced);
    this.isFinished = true;
    this.resolveDone(surfaced);
  }

  private sendFin(parts: readonly Uint8Array[], byteLength: number): Uint8Array {
    this.finSent = true;
    const frame = this.host.encodeData(this.id, parts, byteLength, true);
    settle(this.endWaiters);
    this.maybeFinished();
    return frame;
  }

  private maybeFinished(): void {
    if (this.isFinished || !this.finSent || !this.finReceived) return;
    this.isFinished = true;
    this.host.finished(this);
    this.resolveDone(undefined);
  }

  private checkWritable(): void {
    if (this.failure) throw this.failure;
    if (this.finQueued) throw new OutpostError(ErrorCode.BadRequest, `stream ${this.id} was ended; no more writes`);
  }
}

type Waiter = { resolve(): void; reject(e: Error): void };

function waitFor(list: Waiter[], signal: AbortSignal | undefined): Promise<void> {
  if (signal?.aborted) return Promise.reject(new OutpostError(ErrorCode.Aborted, "stream wait aborted"));
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => {
      const i = list.indexOf(waiter);
      if (i >= 0) list.splice(i, 1);
      reject(new OutpostError(ErrorCode.Aborted, "stream wait aborted", { cause: signal?.reason }));
    };
    const waiter: Waiter = {
      resolve: () => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      },
      reject: (e) => {
        signal?.removeEventListener("abort", onAbort);
        reject(e);
      },
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    list.push(waiter);
  });
}

function settle(list: Waiter[]): void {
  for (const w of list.splice(0)) w.resolve();
}

function rejectAll(list: Waiter[], error: Error): void {
  for (const w of list.splice(0)) w.reject(error);
}

function isConnectionClosed(error: Error): boolean {
  return (error as { code?: string }).code === ErrorCode.ConnectionClosed;
}
