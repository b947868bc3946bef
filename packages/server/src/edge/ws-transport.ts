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
import type { RawData, WebSocket } from "ws";

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
  private readonly done: Promise<Error | undefined>;
  private resolveDone!: (e: Error | undefined) => void;
  private readonly pingTimer: NodeJS.Timeout | undefined;
  private alive = true;
  private readonly closeTimeoutMs: number;
  private readonly maxBufferedBytes: number;

  /** Frames received, in order. Ends when the socket closes. */
  readonly frames: InboundFrames;

  constructor(
    private readonly ws: WebSocket,
    options: WsTransportOptions = {},
  ) {
    this.frames = new InboundFrames({
      highWaterBytes: options.receiveHighWaterBytes ?? 4 * 1024 * 1024,
      pause: () => ws.pause(),
      resume: () => ws.resume(),
    });
    this.closeTimeoutMs = options.closeTimeoutMs ?? 2_000;
    this.maxBufferedBytes = options.maxBufferedBytes ?? 32 * 1024 * 1024;
    this.done = new Promise((r) => {
      this.resolveDone = r;
    });
    ws.on("message", (data, isBinary) => this.onMessage(data, isBinary));
    ws.on("pong", () => {
      this.alive = true;
    });
    ws.on("error", (err) => {
      this.error ??= err;
    });
    ws.on("close", () => this.onClose());
    // ws closes with 1009 by itself, before any message event, when a frame exceeds maxPayload.
    const wsClose = ws.close.bind(ws);
    ws.close = (code?: number, reason?: string | Buffer) => {
      if (code === 1009) {
        const err = new LimitError(ErrorCode.FrameTooLarge, "a frame exceeds maxFrameBytes");
        this.error ??= err;
        this.sayGoodbye(err);
      }
      wsClose(code, reason);
    };
    const interval = options.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS;
    if (interval > 0) {
      this.pingTimer = setInterval(() => this.ping(), interval);
      this.pingTimer.unref();
    }
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
    await this.done;
    clearTimeout(timer);
  }

  closed(): Promise<Error | undefined> {
    return this.done;
  }

  private onMessage(data: RawData, isBinary: boolean): void {
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

  private onClose(): void {
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.ended = true;
    this.frames.end();
    this.outbound.close();
    this.resolveDone(this.error);
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

  private ping(): void {
    if (!this.alive) {
      this.error ??= new ConnectionClosedError("peer did not answer the WebSocket ping");
      this.ws.terminate();
      return;
    }
    this.alive = false;
    try {
      this.ws.ping();
    } catch {
      // the close event follows
    }
  }
}
