import { encodeFrame } from "./codec.js";
import { ErrorCode, OutpostError, ProtocolError } from "./errors.js";
import { ReceiveWindow, SendWindow, StreamIdAllocator, type StreamSide, takeCredit } from "./flow.js";
import { MAX_STREAM_WINDOW_BYTES, type ProtocolLimits } from "./limits.js";
import type { Envelope, EnvelopeInit } from "./messages.js";
import type { Outbox } from "./outbox.js";
import { encodeStreamDataFrame } from "./stream-frame.js";
import { Stream, type StreamHost, StreamResetCode, StreamResetError } from "./stream.js";

/** Options of one {@link StreamMux.open} (and of `Channel.openStream`). */
export interface OpenStreamOptions {
  /** What the stream is for; the peer resets types it does not serve (code Refused). */
  type: string;
  /** Parameters for the peer's application. Default empty. */
  header?: Uint8Array;
  /** Our receive window for this stream, bytes. Default our `streamWindow` limit; at most 16 MiB. */
  window?: number;
  /** Unsent bytes of this stream at which write() waits. Default 64 KiB. */
  writeHighWaterBytes?: number;
}

/** Options of a {@link StreamMux}. */
export interface StreamMuxOptions {
  side: StreamSide;
  /** Our receive limits (streamWindow, connectionWindow, maxStreams). */
  local: ProtocolLimits;
  /** The peer's receive limits: what we may send and open. */
  peer: ProtocolLimits;
  outbox: Outbox;
  /** Called with each stream the peer opens. Without it, every stream the peer opens is refused. */
  onStream?: (stream: Stream) => void;
  /** Unsent bytes of a stream the peer opened at which write() waits. Default 64 KiB. */
  writeHighWaterBytes?: number;
}

const DEFAULT_WRITE_HIGH_WATER = 64 * 1024;

/**
 * The streams of one connection: opens and accepts them, checks every stream frame against the ids
 * and windows, returns credit as the application consumes, and hands stream data to the outbox's
 * round robin. A peer breaking a rule is a ProtocolError (the caller closes the connection); a
 * stream over our `maxStreams` is refused with a reset, not an error.
 */
export class StreamMux {
  private readonly ids: StreamIdAllocator;
  private readonly streams = new Map<number, Stream>();
  private readonly sendConnection: SendWindow;
  private readonly receiveConnection: ReceiveWindow;
  private readonly host: StreamHost;
  private closedWith: OutpostError | undefined;

  constructor(private readonly options: StreamMuxOptions) {
    this.ids = new StreamIdAllocator({
      side: options.side,
      maxLocalOpen: options.peer.maxStreams,
      maxRemoteOpen: options.local.maxStreams,
    });
    this.sendConnection = new SendWindow(options.peer.connectionWindow);
    this.receiveConnection = new ReceiveWindow(options.local.connectionWindow);
    const outbox = options.outbox;
    this.host = {
      wake: (stream) => outbox.wake(stream),
      takeCredit: (stream, max) => takeCredit(stream.sendWindow, this.sendConnection, max),
      encodeData: (id, parts, byteLength, fin) => encodeStreamDataFrame(id, parts, byteLength, fin),
      consumed: (stream, n) => this.consumed(stream, n),
      reset: (stream, code, message) => {
        outbox.remove(stream);
        this.forget(stream);
        this.dropUnread(stream);
        this.sendNow({ streamId: stream.id, streamReset: { code, message } });
      },
      finished: (stream) => this.forget(stream),
    };
  }

  /** Streams open now. */
  get openStreams(): number {
    return this.streams.size;
  }

  /** Received stream bytes not yet read by the application, over all streams. */
  get bufferedBytes(): number {
    return this.receiveConnection.buffered;
  }

  /** Opens a stream. Throws OUTPOST_TOO_MANY_STREAMS over the peer's maxStreams, OUTPOST_CONNECTION_CLOSED once closed. */
  open(options: OpenStreamOptions): Stream {
    if (this.closedWith) throw this.closedWith;
    const window = options.window ?? this.options.local.streamWindow;
    if (!Number.isInteger(window) || window <= 0 || window > MAX_STREAM_WINDOW_BYTES) {
      throw new OutpostError(ErrorCode.InvalidConfig, `stream window ${window} out of range`);
    }
    const id = this.ids.allocate();
    const header = options.header ?? new Uint8Array(0);
    const stream = new Stream(
      id,
      options.type,
      header,
      true,
      new SendWindow(this.options.peer.streamWindow),
      new ReceiveWindow(window),
      this.host,
      options.writeHighWaterBytes ?? DEFAULT_WRITE_HIGH_WATER,
    );
    this.streams.set(id, stream);
    this.sendNow({
      streamId: id,
      streamOpen: {
        type: options.type,
        header,
        window: window === this.options.local.streamWindow ? 0 : window,
      },
    });
    return stream;
  }

  /** Handles one stream frame from the peer. Throws ProtocolError for a broken rule. */
  receive(envelope: Envelope): void {
    const id = envelope.streamId;
    switch (envelope.body) {
      case "streamOpen":
        return this.onOpen(id, envelope.streamOpen!);
      case "streamData":
        return this.onData(id, envelope.streamData!.data ?? new Uint8Array(0), envelope.streamData!.fin === true);
      case "streamWindow":
        return this.onWindow(id, envelope.streamWindow!.increment ?? 0);
      case "streamReset":
        return this.onReset(id, envelope.streamReset!.code ?? 0, envelope.streamReset!.message ?? "");
      default:
        throw new ProtocolError(ErrorCode.UnexpectedFrame, `${envelope.body} is not a stream frame`);
    }
  }

  /** Fails every stream with `error` (the connection closed). */
  close(error: OutpostError): void {
    if (this.closedWith) return;
    this.closedWith = error;
    for (const stream of [...this.streams.values()]) stream.terminate(error);
    this.streams.clear();
    this.sendConnection.close(error);
  }

  private onOpen(id: number, open: { type?: string | null; header?: Uint8Array | null; window?: number | null }): void {
    const window = open.window || this.options.peer.streamWindow;
    if (window > MAX_STREAM_WINDOW_BYTES) {
      throw new ProtocolError(ErrorCode.FlowControl, `stream ${id} announces a window of ${window} bytes`);
    }
    try {
      this.ids.accept(id);
    } catch (err) {
      if (err instanceof ProtocolError) throw err;
      this.sendNow({
        streamId: id,
        streamReset: { code: StreamResetCode.TooManyStreams, message: String((err as Error).message) },
      });
      return;
    }
    const onStream = this.options.onStream;
    if (!onStream || this.closedWith) {
      this.ids.release(id);
      this.sendNow({
        streamId: id,
        streamReset: { code: StreamResetCode.Refused, message: "streams are not accepted" },
      });
      return;
    }
    const stream = new Stream(
      id,
      open.type ?? "",
      open.header ?? new Uint8Array(0),
      false,
      new SendWindow(window),
      new ReceiveWindow(this.options.local.streamWindow),
      this.host,
      this.options.writeHighWaterBytes ?? DEFAULT_WRITE_HIGH_WATER,
    );
    this.streams.set(id, stream);
    onStream(stream);
  }

  private onData(id: number, data: Uint8Array, fin: boolean): void {
    const n = data.byteLength;
    this.receiveConnection.receive(n);
    const stream = this.streams.get(id);
    if (!stream) {
      if (!this.ids.wasClosed(id))
        throw new ProtocolError(ErrorCode.FlowControl, `data for stream ${id}, which was never opened`);
      // Late data for a stream we reset or refused: nobody will read it, so its credit comes back now.
      if (n > 0) this.grantConnection(this.receiveConnection.consume(n));
      return;
    }
    if (stream.peerEnded) throw new ProtocolError(ErrorCode.FlowControl, `data on stream ${id} after its fin`);
    stream.receiveWindow.receive(n);
    stream.receiveData(data, fin);
  }

  private onWindow(id: number, increment: number): void {
    if (id === 0) {
      this.sendConnection.grant(increment);
      for (const stream of this.streams.values()) stream.granted();
      return;
    }
    const stream = this.streams.get(id);
    if (!stream) {
      if (this.ids.wasClosed(id)) return;
      throw new ProtocolError(ErrorCode.FlowControl, `window update for stream ${id}, which was never opened`);
    }
    stream.sendWindow.grant(increment);
    stream.granted();
  }

  private onReset(id: number, code: number, message: string): void {
    const stream = this.streams.get(id);
    if (!stream) {
      if (this.ids.wasClosed(id)) return;
      throw new ProtocolError(ErrorCode.FlowControl, `reset of stream ${id}, which was never opened`);
    }
    this.options.outbox.remove(stream);
    this.forget(stream);
    this.dropUnread(stream);
    stream.terminate(new StreamResetError(code, true, message || `stream ${id} reset by the peer (code ${code})`));
  }

  private consumed(stream: Stream, n: number): void {
    if (n === 0) return;
    const increment = stream.receiveWindow.consume(n);
    // Credit for a stream whose peer direction has ended would never be used.
    if (increment > 0 && !stream.peerEnded && this.streams.has(stream.id)) {
      this.sendNow({ streamId: stream.id, streamWindow: { increment } });
    }
    this.grantConnection(this.receiveConnection.consume(n));
  }

  private grantConnection(increment: number): void {
    if (increment > 0) this.sendNow({ streamWindow: { increment } });
  }

  /** A reset discards what the application did not read: its connection credit comes back now, or it would leak. */
  private dropUnread(stream: Stream): void {
    const unread = stream.receiveWindow.buffered;
    if (unread === 0) return;
    stream.receiveWindow.consume(unread);
    this.grantConnection(this.receiveConnection.consume(unread));
  }

  private forget(stream: Stream): void {
    if (this.streams.get(stream.id) === stream) this.streams.delete(stream.id);
    this.ids.release(stream.id);
  }

  private sendNow(envelope: EnvelopeInit): void {
    if (this.closedWith) return;
    try {
      this.options.outbox.sendNow(encodeFrame(envelope));
    } catch {
      // The transport is gone; the channel closes every stream next.
    }
  }
}
