import {
  ConnectionClosedError,
  encodeFrame,
  ErrorCode,
  GoodbyeReason,
  InboundFrames,
  LimitError,
  OutboundBytes,
  ProtocolError,
  type Transport,
} from "@outpost/protocol";
import { type RawData, WebSocket } from "ws";
import { DeadlineQueues } from "./deadlines.js";

/** The edge's WebSocket ping interval unless configured (edge.pingIntervalMs). */
export const DEFAULT_PING_INTERVAL_MS = 30_000;

/** Options for {@link WsTransport}. */
export interface WsTransportOptions {
  /** Interval between WebSocket pings, in milliseconds; 0 disables pings. Default 30 000. */
  pingIntervalMs?: number;
  /**
   * Received bytes not yet read by the Channel at which the socket is paused (backpressure by
   * bytes, not frames); reading resumes at half. Default 4 MiB.
   */
  receiveHighWaterBytes?: number;
  /** How long close() waits for the closing handshake before terminating, in ms. Default 2 000. */
  closeTimeoutMs?: number;
  /**
   * Unsent bytes tolerated before send() gives up on a peer that does not read: the connection is
   * terminated and send() throws OUTPOST_LIMIT_EXCEEDED. Default 32 MiB.
   */
  maxBufferedBytes?: number;
}

/**
 * A protocol Transport over one `ws` WebSocket: every frame is one binary message. A text message
 * is a protocol error: Goodbye{PROTOCOL_ERROR, OUTPOST_UNEXPECTED_FRAME}, then close 1002. A message
 * over the socket's `maxPayload` is refused by `ws` itself with close 1009; a
 * Goodbye{PROTOCOL_ERROR, OUTPOST_FRAME_TOO_LARGE} goes out before it. A peer that misses a ping
 * interval is terminated.
 */
export class WsTransport implements Transport {
  private readonly outbound = new OutboundBytes();
  private ended = false;
  private error: Error | undefined;
  /** Made at the first closed() before the end, so that an open connection holds no promise. */
  private done: Promise<Error | undefined> | undefined;
  private resolveDone: ((e: Error | undefined) => void) | undefined;
  private readonly pingIntervalMs: number;
  private alive = true;
  private readonly closeTimeoutMs: number;
  private readonly maxBufferedBytes: number;

  /** Frames received, in order. Ends when the socket closes. */
  readonly frames: InboundFrames;

  constructor(
    private readonly ws: WebSocket,
    options: WsTransportOptions = {},
  ) {
    this.frames = new InboundFrames({ highWaterBytes: options.receiveHighWaterBytes ?? 4 * 1024 * 1024, socket: ws });
    this.closeTimeoutMs = options.closeTimeoutMs ?? 2_000;
    this.maxBufferedBytes = options.maxBufferedBytes ?? 32 * 1024 * 1024;
    // Listeners and the close hook are shared by every connection; each finds its transport on the socket.
    const tagged = ws as TaggedSocket;
    tagged[TRANSPORT] = this;
    ws.on("message", onMessage);
    ws.on("pong", onPong);
    ws.on("error", onError);
    ws.on("close", onClose);
    // ws closes with 1009 by itself, before any message event, when a frame exceeds maxPayload.
    tagged.close = closeSaying1009Goodbye;
    this.pingIntervalMs = options.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS;
    if (this.pingIntervalMs > 0) pings.of(this.pingIntervalMs).add(this);
  }

  /** Bytes given to send() whose write the socket has not yet completed. */
  get bufferedBytes(): number {
    return this.outbound.bytes;
  }

  drain(lowWaterBytes = 0): Promise<void> {
    return this.outbound.drain(lowWaterBytes);
  }

  send(frame: Uint8Array): void {
    if (this.ended || this.ws.readyState !== this.ws.OPEN) throw new ConnectionClosedError("transport is closed");
    // Checked before queueing, so one message always fits and the buffer stays below the limit plus one message.
    if (this.outbound.bytes > this.maxBufferedBytes) {
      const err = new LimitError(
        ErrorCode.LimitExceeded,
        `peer does not read: more than ${this.maxBufferedBytes} bytes unsent`,
      );
      this.error ??= err;
      this.ws.terminate();
      throw err;
    }
    const n = frame.byteLength;
    this.outbound.add(n);
    this.ws.send(frame, { binary: true }, () => this.outbound.done(n));
  }

  async close(error?: Error): Promise<void> {
    this.error ??= error;
    if (this.ws.readyState === this.ws.CLOSED) return;
    const code = error instanceof ProtocolError ? 1002 : 1000;
    const timer = setTimeout(() => this.ws.terminate(), this.closeTimeoutMs);
    timer.unref();
    try {
      this.ws.close(code);
    } catch {
      this.ws.terminate();
    }
    await this.closed();
    clearTimeout(timer);
  }

  closed(): Promise<Error | undefined> {
    if (this.ended) return Promise.resolve(this.error);
    return (this.done ??= new Promise((r) => {
      this.resolveDone = r;
    }));
  }

  /** @internal The socket's message event. */
  onMessage(data: RawData, isBinary: boolean): void {
    this.alive = true;
    if (this.ended) return;
    if (!isBinary) {
      const err = new ProtocolError(ErrorCode.UnexpectedFrame, "text WebSocket messages are not allowed");
      this.sayGoodbye(err);
      void this.close(err);
      return;
    }
    const frame = Array.isArray(data)
      ? new Uint8Array(Buffer.concat(data))
      : data instanceof ArrayBuffer
        ? new Uint8Array(data)
        : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    this.frames.push(frame);
  }

  /** @internal The socket's close event. */
  onClose(): void {
    if (this.pingIntervalMs > 0) pings.of(this.pingIntervalMs).delete(this);
    this.ended = true;
    this.frames.end();
    this.outbound.close();
    this.resolveDone?.(this.error);
  }

  /** @internal The socket's pong event. */
  onPong(): void {
    this.alive = true;
  }

  /** @internal The socket's error event. */
  onError(err: Error): void {
    this.error ??= err;
  }

  /** @internal ws refuses a frame over maxPayload: the Goodbye goes out before its close frame. */
  onFrameTooLarge(): void {
    const err = new LimitError(ErrorCode.FrameTooLarge, "a frame exceeds maxFrameBytes");
    this.error ??= err;
    this.sayGoodbye(err);
  }

  /** Goodbye for what is refused here, below the Channel (which says Goodbye for everything else). */
  private sayGoodbye(err: ProtocolError): void {
    if (this.ended || this.ws.readyState !== this.ws.OPEN) return;
    try {
      const goodbye = { reason: GoodbyeReason.PROTOCOL_ERROR, message: err.message, code: err.code };
      this.ws.send(encodeFrame({ goodbye }), { binary: true });
    } catch {
      // best effort: the close frame follows
    }
  }

  /** @internal One ping interval has passed (the shared schedule below). */
  ping(): void {
    if (!this.alive) {
      this.error ??= new ConnectionClosedError("peer did not answer the WebSocket ping");
      this.ws.terminate();
      return;
    }
    this.alive = false;
    pings.of(this.pingIntervalMs).add(this);
    try {
      this.ws.ping();
    } catch {
      // the close event follows
    }
  }
}

const TRANSPORT = Symbol("outpost.transport");

type TaggedSocket = WebSocket & { [TRANSPORT]: WsTransport };

/** Every transport's ping deadline, one timer per interval. */
const pings = new DeadlineQueues<WsTransport>((transport) => transport.ping());

const wsClose = WebSocket.prototype.close;

function transportOf(ws: WebSocket): WsTransport {
  return (ws as TaggedSocket)[TRANSPORT];
}

function onMessage(this: WebSocket, data: RawData, isBinary: boolean): void {
  transportOf(this).onMessage(data, isBinary);
}

function onPong(this: WebSocket): void {
  transportOf(this).onPong();
}

function onError(this: WebSocket, err: Error): void {
  transportOf(this).onError(err);
}

function onClose(this: WebSocket): void {
  transportOf(this).onClose();
}

function closeSaying1009Goodbye(this: WebSocket, code?: number, reason?: string | Buffer): void {
  if (code === 1009) transportOf(this).onFrameTooLarge();
  wsClose.call(this, code, reason);
}
