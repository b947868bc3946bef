import {
  ConnectionClosedError,
  ErrorCode,
  InboundFrames,
  LimitError,
  OutboundBytes,
  OutpostError,
  TimeoutError,
  type Transport,
} from "@outpost/protocol";
import WebSocket from "ws";
import { connectionError, type Endpoint, errorFromAnswer, readText } from "../http.js";

const MAX_BUFFERED_BYTES = 32 * 1024 * 1024;

/**
 * The WebSocket masking key of every frame we send over `wss:`: zero, so `ws` neither copies nor XORs each
 * payload (RFC 6455 asks for a random key; see docs/protocol.md §1 for why not here). Masking keeps
 * untrusted script from steering the bytes an intercepting proxy sees on a cleartext connection;
 * over TLS, with payloads made here, it would cost a pass over every byte and protect nothing. A
 * cleartext `ws:` URL keeps ws's random key.
 */
function zeroMask(mask: Buffer): void {
  mask.fill(0);
}

/**
 * Opens the operator tunnel WebSocket `path` on the operator API with the endpoint's bearer token
 * and CA. A refused upgrade rejects with the API's error (401, 403 OUTPOST_FORBIDDEN, 404, ...).
 */
export function connectTunnelSocket(endpoint: Endpoint, path: string, signal?: AbortSignal): Promise<Transport> {
  const url = new URL(path, endpoint.url);
  url.protocol = url.protocol === "http:" ? "ws:" : "wss:";
  const ws = new WebSocket(url, {
    ...(endpoint.ca !== undefined && { ca: endpoint.ca }),
    headers: endpoint.token ? { authorization: `Bearer ${endpoint.token}` } : {},
    minVersion: "TLSv1.2",
    maxPayload: 1024 * 1024 + 1024,
    perMessageDeflate: false,
    followRedirects: false,
    ...(url.protocol === "wss:" && { generateMask: zeroMask }),
  } as WebSocket.ClientOptions);
  ws.binaryType = "nodebuffer";
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      ws.removeAllListeners();
      ws.on("error", () => {});
      ws.terminate();
      reject(err);
    };
    const timer = setTimeout(() => fail(new TimeoutError(`connecting to ${url.origin} timed out`)), endpoint.timeoutMs);
    signal?.addEventListener("abort", () => fail(new OutpostError(ErrorCode.Aborted, "tunnel connect aborted")), {
      once: true,
    });
    ws.on("unexpected-response", (req, res) => {
      void readText(res)
        .then((text) => fail(errorFromAnswer(res.statusCode ?? 0, text)))
        .catch((err: unknown) => fail(connectionError(endpoint, err)))
        .finally(() => req.destroy());
    });
    ws.on("error", (err) => fail(connectionError(endpoint, err)));
    ws.on("close", () =>
      fail(new ConnectionClosedError(`${url.origin} closed the tunnel connection during the upgrade`)),
    );
    ws.on("open", () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      ws.removeAllListeners();
      resolve(new ClientWsTransport(ws));
    });
  });
}

/** A protocol Transport over the operator's tunnel WebSocket: one binary message per frame, backpressure by bytes both ways. */
class ClientWsTransport implements Transport {
  private readonly outbound = new OutboundBytes();
  private error: Error | undefined;
  private readonly done: Promise<Error | undefined>;
  readonly frames: InboundFrames;

  constructor(private readonly ws: WebSocket) {
    this.frames = new InboundFrames({
      highWaterBytes: 4 * 1024 * 1024,
      pause: () => ws.pause(),
      resume: () => ws.resume(),
    });
    let resolveDone!: (e: Error | undefined) => void;
    this.done = new Promise((r) => (resolveDone = r));
    ws.on("message", (data: Buffer, isBinary) => {
      if (isBinary) this.frames.push(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    });
    ws.on("error", (err) => {
      this.error ??= err;
    });
    ws.on("close", () => {
      this.frames.end();
      this.outbound.close();
      resolveDone(this.error);
    });
  }

  get bufferedBytes(): number {
    return this.outbound.bytes;
  }

  drain(lowWaterBytes = 0): Promise<void> {
    return this.outbound.drain(lowWaterBytes);
  }

  send(frame: Uint8Array): void {
    if (this.ws.readyState !== WebSocket.OPEN) throw new ConnectionClosedError("tunnel connection is closed");
    if (this.outbound.bytes > MAX_BUFFERED_BYTES) {
      const err = new LimitError(ErrorCode.LimitExceeded, "the server does not read the tunnel connection");
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
    if (this.ws.readyState === WebSocket.CLOSED) return;
    const timer = setTimeout(() => this.ws.terminate(), 2_000);
    timer.unref();
    this.ws.close(1000);
    await this.done;
    clearTimeout(timer);
  }

  closed(): Promise<Error | undefined> {
    return this.done;
  }
}
