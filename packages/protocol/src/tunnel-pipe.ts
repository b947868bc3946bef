import type { Duplex } from "node:stream";
import { ErrorCode, isOutpostError } from "./errors.js";
import { type Stream, StreamResetCode, StreamResetError } from "./stream.js";
import { type TunnelRecords, TunnelResetCode } from "./tunnel.js";

/** Options of {@link pipeTunnel}. */
export interface TunnelPipeOptions {
  /** Called with each plaintext byte count: "out" read from the socket and sent, "in" received and written to it. */
  onBytes?: (direction: "in" | "out", n: number) => void;
}

/** How one tunnel connection ended. */
export interface TunnelPipeResult {
  /** Plaintext bytes read from the socket and sent on the stream. */
  sent: number;
  /** Plaintext bytes received on the stream and written to the socket. */
  received: number;
  /** Undefined after a clean close both ways; else the reset or failure. */
  error?: Error;
}

/**
 * Joins a local byte socket (a TCP connection, stdin/stdout) and one tunnel stream through sealed
 * records, both directions, with backpressure both ways: the socket is paused while the stream
 * holds more than its high water unsent, and the stream is read only as the socket drains, so the
 * stream's credit returns to the peer only as the local end consumes. A half-close either way is
 * passed on (end record, then fin); a reset of the stream resets the socket (TCP RST where it can),
 * and a socket error resets the stream. Resolves once both are done; never rejects.
 */
export function pipeTunnel(
  socket: Duplex,
  stream: Stream,
  records: TunnelRecords,
  options: TunnelPipeOptions = {},
): Promise<TunnelPipeResult> {
  const result: TunnelPipeResult = { sent: 0, received: 0 };
  let failed = false;
  const fail = (err: Error, code: number) => {
    if (failed) return;
    failed = true;
    result.error ??= err;
    stream.reset(code, err.message);
    const s = socket as Duplex & { resetAndDestroy?: () => void };
    if (typeof s.resetAndDestroy === "function" && !socket.destroyed) s.resetAndDestroy();
    else socket.destroy();
  };

  socket.on("data", (chunk: Buffer) => {
    if (failed) return;
    let below = true;
    try {
      for (const r of records.sealDataParts(chunk)) below = stream.tryWrite(r);
    } catch (err) {
      fail(err as Error, StreamResetCode.Cancel);
      return;
    }
    result.sent += chunk.byteLength;
    options.onBytes?.("out", chunk.byteLength);
    if (!below) {
      socket.pause();
      stream.drained().then(
        () => socket.resume(),
        () => undefined,
      );
    }
  });
  socket.on("end", () => {
    if (failed) return;
    try {
      stream.tryWrite(records.sealEnd());
      stream.end().catch(() => undefined);
    } catch {
      // the stream was reset meanwhile: its handler below tears down
    }
  });
  socket.on("error", (err) => fail(err, StreamResetCode.Cancel));
  const socketClosed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  void socketClosed.then(() => {
    // A socket that closed before both directions ended cleanly leaves nothing to carry on.
    if (!failed && (!records.peerEnded || !socket.readableEnded))
      fail(new StreamResetError(StreamResetCode.Cancel, false, "local connection closed"), StreamResetCode.Cancel);
  });

  const reading = (async () => {
    try {
      for (;;) {
        const chunk = await stream.read();
        if (chunk === undefined) break;
        for (const plain of records.open(chunk)) {
          result.received += plain.byteLength;
          options.onBytes?.("in", plain.byteLength);
          if (!socket.write(plain)) await drainOrClose(socket);
        }
        if (records.peerEnded) socket.end();
      }
      if (!records.peerEnded)
        throw new StreamResetError(TunnelResetCode.Integrity, true, "tunnel connection cut short (no end record)");
    } catch (err) {
      const e = err as Error;
      const code =
        isOutpostError(e) && e.code === ErrorCode.Integrity ? TunnelResetCode.Integrity : StreamResetCode.Cancel;
      fail(e, code);
    }
  })();

  return Promise.all([reading, socketClosed, stream.closed()]).then(([, , streamError]) => {
    if (streamError && !result.error) result.error = streamError;
    return result;
  });
}

function drainOrClose(socket: Duplex): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      socket.off("drain", done);
      socket.off("close", done);
      resolve();
    };
    socket.on("drain", done);
    socket.on("close", done);
  });
}
