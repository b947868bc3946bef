import { DEFAULT_LIMITS, decodeFrame, type Envelope } from "@outpost/protocol";
import { WebSocket } from "ws";

/** A device speaking raw WebSocket frames: no Channel, no SDK, nothing that knows protocol 1.1. */
export interface RawDevice {
  ws: WebSocket;
  send(hex: string | Uint8Array): void;
  /** The next frame from the server, decoded. */
  next(): Promise<Envelope>;
  /** Resolves with the WebSocket close code once the server closed. */
  closed: Promise<number>;
  /** Every frame received so far, in order, taken by next() or not. */
  readonly received: readonly Envelope[];
}

/** Opens a TLS WebSocket to the edge endpoint and decodes what the server sends, frame by frame. */
export async function openRawDevice(
  url: string,
  caPem: string,
  identity: { certPem: string; keyPem: string },
): Promise<RawDevice> {
  const ws = new WebSocket(url, { ca: caPem, cert: identity.certPem, key: identity.keyPem });
  const inbox: Envelope[] = [];
  const received: Envelope[] = [];
  const waiting: ((e: Envelope) => void)[] = [];
  ws.on("message", (data: Buffer) => {
    const env = decodeFrame(new Uint8Array(data), { ...DEFAULT_LIMITS, maxFrameBytes: 64 * 1024 * 1024 });
    received.push(env);
    const w = waiting.shift();
    if (w) w(env);
    else inbox.push(env);
  });
  const closed = new Promise<number>((resolve) => ws.once("close", (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  });
  return {
    ws,
    send: (frame) => ws.send(typeof frame === "string" ? Buffer.from(frame, "hex") : frame, { binary: true }),
    next: () => {
      const e = inbox.shift();
      if (e) return Promise.resolve(e);
      return Promise.race([
        new Promise<Envelope>((resolve) => waiting.push(resolve)),
        closed.then((code) => Promise.reject(new Error(`closed (${code}) before the next frame`))),
      ]);
    },
    closed,
    received,
  };
}
