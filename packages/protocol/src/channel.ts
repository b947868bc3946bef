import { AsyncQueue, type QueueConsumer } from "./async-queue.js";
import { type Clock, systemClock } from "./clock.js";
import { decodeFrame, encodeFrame } from "./codec.js";
import { RequestTable } from "./correlation.js";
import {
  ConnectionClosedError,
  ErrorCode,
  isOutpostError,
  LimitError,
  OutpostError,
  ProtocolError,
  RemoteError,
} from "./errors.js";
import { DEFAULT_LIMITS, type ProtocolLimits, resolveLimits } from "./limits.js";
import { type Envelope, type EnvelopeInit, GoodbyeReason, type Response, type WireLimits } from "./messages.js";
import { MultipartAssembler, splitMessage } from "./multipart.js";
import { Outbox } from "./outbox.js";
import type { Stream } from "./stream.js";
import { type OpenStreamOptions, StreamMux, type StreamMuxOptions } from "./stream-mux.js";
import type { StreamSide } from "./flow.js";
import { errorFromStatus, isSuccess, Status, statusFromError } from "./status.js";
import type { Transport } from "./transport.js";

/** Options of a {@link Channel}. */
export interface ChannelOptions {
  /** Limits we enforce on what we receive. Default DEFAULT_LIMITS. */
  limits?: Partial<ProtocolLimits>;
  /** Default timeout of request(), ms. 0 disables it. Default 30_000. */
  requestTimeoutMs?: number;
  /** How long an incomplete multipart set is kept, ms. Default 30_000. */
  multipartExpiryMs?: number;
  /** Time source for request timeouts and multipart expiry. Default the system clock (unref'd timers). */
  clock?: Clock;
  /**
   * Inbound messages held for the consumer of `messages` before the channel stops reading the
   * transport (replies included) until half of them are taken, so that the transport can push back
   * on the peer instead of the backlog growing here. Default 256. Infinity disables the bound.
   */
  maxQueuedMessages?: number;
  /**
   * Unsent bytes the transport may hold before bulk frames (multipart parts, stream data) wait for
   * its drain signal; control frames never wait for it. Default 128 KiB.
   */
  sendHighWaterBytes?: number;
  /** Largest bulk frame (a multipart part, a stream data frame) we send. Default 64 KiB. */
  maxBulkFrameBytes?: number;
  /** How long a clean close() waits for queued multipart parts to be written, ms. Default 2_000. */
  closeFlushMs?: number;
}

/** Options of {@link Channel.enableStreams}. */
export interface EnableStreamsOptions {
  /** Our side: the device opens odd stream ids, the server even ones. */
  side: StreamSide;
  /** Called with each stream the peer opens. Without it every stream the peer opens is refused. */
  onStream?: (stream: Stream) => void;
  /** Unsent bytes of a stream the peer opened at which its write() waits. Default 64 KiB. */
  writeHighWaterBytes?: number;
}

/** Options of one {@link Channel.request}. */
export interface RequestOptions {
  /** Rejects with TimeoutError after this many ms; 0 disables. Default the channel's `requestTimeoutMs`. */
  timeoutMs?: number;
  /** Rejects with AbortError when aborted. The request stays answered-or-not on the peer. */
  signal?: AbortSignal;
}

const REPLY_KINDS = new Set(["response", "helloAck", "authResult"]);
/** Bodies that carry no ordering with the messages around them: the priority lane. */
const PRIORITY_KINDS = new Set(["response", "helloAck", "authResult", "keepAlive"]);
const NO_REPLY_KINDS = new Set(["goodbye", "keepAlive"]);
const STREAM_KINDS = new Set(["streamOpen", "streamData", "streamWindow", "streamReset"]);
const DEFAULT_MAX_QUEUED_MESSAGES = 256;
const MAX_MESSAGE_ID = 0xffffffff;

/**
 * One per connection, on top of a {@link Transport}: encodes and decodes envelopes, enforces our
 * receive limits, splits large messages into Multipart frames and reassembles them with bounded
 * memory, and correlates requests with replies. Bad input from the peer closes the channel (after a
 * best-effort Goodbye{PROTOCOL_ERROR}); it never throws out of the read loop.
 */
export class Channel {
  private receiveLimits: ProtocolLimits;
  private peer: ProtocolLimits = { ...DEFAULT_LIMITS };
  private readonly requests: RequestTable<Envelope>;
  private readonly inbound = new Set<number>();
  private readonly assembler: MultipartAssembler;
  private readonly queue = new AsyncQueue<Envelope>();
  private readonly defaultTimeoutMs: number;
  private readonly maxQueued: number;
  private readonly outbox: Outbox;
  private readonly closeFlushMs: number;
  private readonly clock: Clock;
  /** Set by enableStreams; the mux itself is built at the first stream, so idle connections do not carry one. */
  private streamOptions: StreamMuxOptions | undefined;
  private streams: StreamMux | undefined;
  private nextMessageId = 1;
  private isClosed = false;
  private closeError: Error | undefined;
  private closing: Promise<void> | undefined;
  private readonly done: Promise<Error | undefined>;
  private resolveDone!: (e: Error | undefined) => void;

  constructor(
    private readonly transport: Transport,
    options: ChannelOptions = {},
  ) {
    this.receiveLimits = resolveLimits(options.limits);
    const clock = options.clock ?? systemClock;
    this.clock = clock;
    this.defaultTimeoutMs = options.requestTimeoutMs ?? 30_000;
    this.maxQueued = Math.max(1, options.maxQueuedMessages ?? DEFAULT_MAX_QUEUED_MESSAGES);
    this.requests = new RequestTable<Envelope>(clock);
    this.closeFlushMs = options.closeFlushMs ?? 2_000;
    this.outbox = new Outbox(transport, {
      ...(options.sendHighWaterBytes !== undefined && { highWaterBytes: options.sendHighWaterBytes }),
      ...(options.maxBulkFrameBytes !== undefined && { maxBulkFrameBytes: options.maxBulkFrameBytes }),
      onError: (err) => void this.close(asError(err)),
    });
    this.assembler = new MultipartAssembler({
      maxMessageBytes: this.receiveLimits.maxMessageBytes,
      expiryMs: options.multipartExpiryMs ?? 30_000,
      clock,
      onExpired: (err) => this.fail(err),
    });
    this.done = new Promise((r) => {
      this.resolveDone = r;
    });
    const frames = transport.frames;
    if (frames instanceof AsyncQueue) {
      // Push-style: no suspended reader per connection while it is idle.
      frames.consume({ take: (frame) => this.readFrame(frame), end: () => this.framesEnded() });
    } else {
      void this.readLoop();
    }
  }

  /**
   * Hands the inbound envelopes of {@link messages} to `consumer` instead of an iterator: in order,
   * each once the promise `take` returned for the one before has settled, then `end()` once the
   * channel has closed. The same bound of `maxQueuedMessages` applies while `take` waits.
   */
  consumeMessages(consumer: QueueConsumer<Envelope>): void {
    this.queue.consume(consumer);
  }

  /**
   * Inbound envelopes that are not replies to our requests, in order, multiparts reassembled.
   * Iterate once, and keep up: while `maxQueuedMessages` wait here the channel reads nothing more
   * from the transport, replies to our own requests included (so do not await a request's reply
   * between two messages while the backlog is that long; hand work off instead).
   */
  get messages(): AsyncIterable<Envelope> {
    return this.queue;
  }

  /** Inbound messages waiting for the consumer of {@link messages}. */
  get queuedMessages(): number {
    return this.queue.length;
  }

  /** Number of our requests awaiting a reply. */
  get pendingRequests(): number {
    return this.requests.size;
  }

  /** Our receive limits, enforced on every inbound frame. */
  get limits(): ProtocolLimits {
    return this.receiveLimits;
  }

  /**
   * Changes our receive limits from the next frame on. A server starts a connection with tight
   * limits (nothing before authentication needs a large message) and widens them once the peer
   * has authenticated, so an unauthenticated peer cannot make it hold large multipart sets.
   */
  setReceiveLimits(limits: Partial<ProtocolLimits>): void {
    this.receiveLimits = resolveLimits({ ...this.receiveLimits, ...limits });
    this.assembler.setMaxMessageBytes(this.receiveLimits.maxMessageBytes);
  }

  /** The peer's limits, used for what we send. */
  get peerLimits(): ProtocolLimits {
    return this.peer;
  }

  /**
   * The limits the peer accepts (from Hello/HelloAck); used to split outgoing messages. Before it is
   * called, DEFAULT_LIMITS. Throws LimitError when the peer announced nonsensical limits.
   */
  setPeerLimits(limits: Partial<ProtocolLimits> | WireLimits | null | undefined): void {
    if (!limits) {
      this.peer = { ...DEFAULT_LIMITS };
      return;
    }
    const l = limits as Record<keyof ProtocolLimits, number | null | undefined>;
    const partial: Partial<ProtocolLimits> = {};
    for (const key of Object.keys(DEFAULT_LIMITS) as (keyof ProtocolLimits)[]) {
      const v = l[key];
      if (typeof v === "number") partial[key] = v;
    }
    this.peer = resolveLimits(partial);
  }

  /** Bytes the transport holds unsent, plus messages of the ordered lane not yet fully written. */
  get sendBacklog(): { transportBytes: number; orderedMessages: number } {
    return { transportBytes: this.transport.bufferedBytes, orderedMessages: this.outbox.orderedPending };
  }

  /**
   * Encodes and sends one envelope. Replies and keep-alives take the priority lane (written at
   * once); other messages keep their order among themselves. A message larger than the peer's
   * maxFrameBytes is split into Multipart frames that are written part by part as the transport
   * drains, so other traffic interleaves with them. Throws LimitError OUTPOST_LIMIT_EXCEEDED
   * beyond the peer's maxMessageBytes and ConnectionClosedError when closed.
   */
  send(envelope: EnvelopeInit): void {
    if (this.isClosed) throw new ConnectionClosedError("channel is closed", causeOf(this.closeError));
    const bytes = encodeFrame(envelope);
    if (bytes.byteLength > this.peer.maxFrameBytes) {
      if (bytes.byteLength > this.peer.maxMessageBytes) {
        throw new LimitError(
          ErrorCode.LimitExceeded,
          `message of ${bytes.byteLength} bytes exceeds the peer's maxMessageBytes ${this.peer.maxMessageBytes}`,
        );
      }
      const messageId = this.nextMessageId;
      this.nextMessageId = messageId >= MAX_MESSAGE_ID ? 1 : messageId + 1;
      const frameBytes = Math.min(this.peer.maxFrameBytes, Math.max(1024, this.outbox.maxBulkFrameBytes));
      const parts = splitMessage(bytes, messageId, frameBytes);
      this.outbox.sendParts(encodeEach(parts));
    } else if (isPriority(envelope)) {
      this.outbox.sendNow(bytes);
    } else {
      this.outbox.sendOrdered(bytes);
    }
    const id = envelope.requestId ?? 0;
    if (id !== 0 && isReply(envelope)) this.inbound.delete(id);
  }

  /**
   * Turns streams on for this connection, with our current receive limits and the peer's limits
   * (so call it after setPeerLimits, and on a server after widening the receive limits). Call it
   * only when both sides announced the "streams" capability; until then a stream frame from the
   * peer is a ProtocolError. Idempotent.
   */
  enableStreams(options: EnableStreamsOptions): void {
    if (this.streamOptions || this.isClosed) return;
    this.streamOptions = {
      side: options.side,
      local: this.receiveLimits,
      peer: this.peer,
      outbox: this.outbox,
      ...(options.onStream && { onStream: options.onStream }),
      ...(options.writeHighWaterBytes !== undefined && { writeHighWaterBytes: options.writeHighWaterBytes }),
    };
  }

  private mux(options: StreamMuxOptions): StreamMux {
    return (this.streams ??= new StreamMux(options));
  }

  /** True once {@link enableStreams} has been called. */
  get streamsEnabled(): boolean {
    return this.streamOptions !== undefined;
  }

  /** Streams open now and stream bytes received but not yet read, over all streams. */
  get streamStats(): { open: number; bufferedBytes: number } {
    return { open: this.streams?.openStreams ?? 0, bufferedBytes: this.streams?.bufferedBytes ?? 0 };
  }

  /**
   * Opens a stream to the peer; data may be written at once. Throws OUTPOST_NOT_IMPLEMENTED when
   * streams are not enabled on this connection, OUTPOST_TOO_MANY_STREAMS over the peer's
   * maxStreams, ConnectionClosedError once closed.
   */
  openStream(options: OpenStreamOptions): Stream {
    if (this.isClosed) throw new ConnectionClosedError("channel is closed", causeOf(this.closeError));
    if (!this.streamOptions) {
      throw new OutpostError(ErrorCode.NotImplemented, "streams are not enabled on this connection");
    }
    return this.mux(this.streamOptions).open(options);
  }

  /**
   * Assigns a fresh non-zero requestId, sends, and resolves with the peer's reply envelope (body
   * response, helloAck or authResult with the same requestId). A Response or AuthResult whose status
   * is not 2xx rejects with errorFromStatus(status, message, code). Rejects with TimeoutError,
   * AbortError, ConnectionClosedError, or RemoteError OUTPOST_TOO_MANY_REQUESTS when more requests
   * are outstanding than the peer's maxConcurrentRequests.
   */
  request(envelope: EnvelopeInit, options: RequestOptions = {}): Promise<Envelope> {
    if (this.isClosed) {
      return Promise.reject(new ConnectionClosedError("channel is closed", causeOf(this.closeError)));
    }
    if (this.requests.size >= this.peer.maxConcurrentRequests) {
      return Promise.reject(
        new RemoteError(
          ErrorCode.TooManyRequests,
          `${this.requests.size} requests outstanding, the peer accepts ${this.peer.maxConcurrentRequests}`,
          { status: Status.TooManyRequests },
        ),
      );
    }
    const id = this.requests.allocate();
    const reply = this.requests.register(id, {
      timeoutMs: options.timeoutMs ?? this.defaultTimeoutMs,
      signal: options.signal,
    });
    if (this.requests.has(id)) {
      try {
        this.send({ ...envelope, requestId: id });
      } catch (err) {
        this.requests.reject(id, err instanceof Error ? err : new OutpostError(ErrorCode.Internal, String(err)));
      }
    }
    return reply;
  }

  /** Sends a Response to the peer's request. `status` defaults to 200. */
  respond(requestId: number, response: Response): void {
    this.send({ requestId, response: { ...response, status: response.status || Status.OK } });
  }

  /** Sends a Response built with statusFromError(err). */
  respondError(requestId: number, err: unknown): void {
    const { status, code, message } = statusFromError(err);
    this.respond(requestId, { status, code, message });
  }

  /** Closes: rejects pending requests with ConnectionClosedError (cause = error), closes the transport. Idempotent. */
  close(error?: Error): Promise<void> {
    if (this.closing) return this.closing;
    this.isClosed = true;
    this.closeError = error;
    this.requests.rejectAll(error);
    this.streams?.close(new ConnectionClosedError("connection closed", causeOf(error)));
    this.assembler.clear();
    this.inbound.clear();
    this.queue.end();
    this.closing = this.flushBeforeClose(error)
      .then(() => this.transport.close(error))
      .catch(() => undefined)
      .then(() => this.resolveDone(error));
    return this.closing;
  }

  /** Resolves with the error that closed the channel (ProtocolError for bad peer input), or undefined for a clean close. */
  closed(): Promise<Error | undefined> {
    return this.done;
  }

  /** A clean close lets queued multipart parts (and a Goodbye behind them) go out first, for a bounded time. */
  private async flushBeforeClose(error: Error | undefined): Promise<void> {
    if (error === undefined && this.outbox.orderedPending > 0) {
      let timer: unknown;
      await Promise.race([
        this.outbox.flushed(),
        new Promise<void>((r) => {
          timer = this.clock.setTimeout(r, this.closeFlushMs);
        }),
      ]);
      this.clock.clearTimeout(timer);
    }
    this.outbox.close();
  }

  private async readLoop(): Promise<void> {
    try {
      for await (const frame of this.transport.frames) {
        if (this.isClosed) break;
        this.receive(frame);
        if (this.queue.length >= this.maxQueued) {
          await Promise.race([this.queue.whenBelow(Math.ceil(this.maxQueued / 2)), this.transport.closed()]);
          if (this.isClosed) break;
        }
      }
    } catch (err) {
      this.fail(err);
    }
    if (!this.isClosed) {
      const err = await this.transport.closed().catch((e: unknown) => asError(e));
      void this.close(err);
    }
  }

  /** One frame of a push-style transport; a promise while too many messages wait for their consumer. */
  private readFrame(frame: Uint8Array): Promise<unknown> | undefined {
    if (this.isClosed) return undefined;
    this.receive(frame);
    if (this.queue.length < this.maxQueued) return undefined;
    return Promise.race([this.queue.whenBelow(Math.ceil(this.maxQueued / 2)), this.transport.closed()]);
  }

  private framesEnded(): void {
    if (this.isClosed) return;
    this.transport.closed().then(
      (err) => void this.close(err),
      (e: unknown) => void this.close(asError(e)),
    );
  }

  private receive(frame: Uint8Array): void {
    try {
      const envelope = decodeFrame(frame, this.limits);
      if (envelope.body === "multipart") {
        const whole = this.assembler.push(envelope.multipart!);
        if (!whole) return;
        const inner = decodeFrame(whole, { ...this.limits, maxFrameBytes: this.limits.maxMessageBytes });
        if (inner.body === "multipart") throw new ProtocolError(ErrorCode.MultipartInvalid, "nested multipart");
        this.dispatch(inner);
      } else {
        this.dispatch(envelope);
      }
    } catch (err) {
      this.fail(err);
    }
  }

  private dispatch(envelope: Envelope): void {
    const id = envelope.requestId;
    const body = envelope.body!;
    if (STREAM_KINDS.has(body)) {
      if (!this.streamOptions) {
        throw new ProtocolError(ErrorCode.UnexpectedFrame, `${body} on a connection without streams`);
      }
      this.mux(this.streamOptions).receive(envelope);
      return;
    }
    if (REPLY_KINDS.has(body)) {
      if (id === 0) {
        if (body === "response") throw new ProtocolError(ErrorCode.UnexpectedFrame, "response without a request id");
        this.queue.push(envelope);
        return;
      }
      if (this.requests.has(id)) {
        this.settle(id, envelope);
        return;
      }
      if (this.requests.wasIssued(id)) return; // late reply to a request that timed out or was aborted
      throw new ProtocolError(ErrorCode.UnexpectedFrame, `reply to request ${id}, which was never sent`);
    }
    // KeepAlive and Goodbye never get a Response: an id on them must not hold a request slot forever.
    if (id !== 0 && !NO_REPLY_KINDS.has(body)) {
      if (this.inbound.has(id)) {
        throw new ProtocolError(ErrorCode.UnexpectedFrame, `request id ${id} reused while still outstanding`);
      }
      if (this.inbound.size >= this.limits.maxConcurrentRequests) {
        this.respondError(
          id,
          new RemoteError(
            ErrorCode.TooManyRequests,
            `more than ${this.limits.maxConcurrentRequests} requests outstanding`,
            {
              status: Status.TooManyRequests,
            },
          ),
        );
        return;
      }
      this.inbound.add(id);
    }
    this.queue.push(envelope);
  }

  private settle(id: number, envelope: Envelope): void {
    const result = envelope.response ?? envelope.authResult;
    if (result && envelope.body !== "helloAck") {
      const status = result.status ?? 0;
      if (!isSuccess(status)) {
        const code = result.code || undefined;
        this.requests.reject(id, errorFromStatus(status, result.message ?? "", code));
        return;
      }
    }
    this.requests.resolve(id, envelope);
  }

  private fail(err: unknown): void {
    if (this.isClosed) return;
    const error = isOutpostError(err)
      ? err
      : new ProtocolError(ErrorCode.MalformedFrame, "frame could not be processed", { cause: err });
    try {
      this.send({ goodbye: { reason: GoodbyeReason.PROTOCOL_ERROR, message: error.message, code: error.code } });
    } catch {
      // best effort: the transport may already be gone
    }
    void this.close(error);
  }
}

function* encodeEach(parts: EnvelopeInit[]): Iterator<Uint8Array> {
  for (const part of parts) yield encodeFrame(part);
}

function isPriority(envelope: EnvelopeInit): boolean {
  for (const kind of PRIORITY_KINDS) if ((envelope as Record<string, unknown>)[kind] != null) return true;
  return false;
}

function isReply(envelope: EnvelopeInit): boolean {
  return envelope.response != null || envelope.helloAck != null || envelope.authResult != null;
}

function causeOf(error: Error | undefined): { cause?: Error } {
  return error === undefined ? {} : { cause: error };
}

function asError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}
