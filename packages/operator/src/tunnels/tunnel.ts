import { randomUUID } from "node:crypto";
import { createServer, type Server, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import {
  Channel,
  createKeyShare,
  decodeTunnelAccept,
  encodeTunnelHeader,
  ErrorCode,
  type KeyShare,
  OutpostError,
  pipeTunnel,
  type Stream,
  StreamFrameDecoder,
  StreamResetError,
  TUNNEL_HOP_LIMITS,
  TUNNEL_STREAM_TYPE,
  tunnelConnectionKeys,
  tunnelErrorFromReset,
  type TunnelPipeResult,
  TunnelRecords,
  TunnelResetCode,
  verifyTunnelAccept,
} from "@outpost/protocol";
import type { Endpoint } from "../http.js";
import { connectTunnelSocket } from "./ws-transport.js";

/** Options of {@link openTunnel}. */
export interface OpenTunnelOptions {
  /** The device to reach. */
  device: string;
  /** Target name, allow-listed on the device (e.g. "ssh"). */
  target: string;
  /**
   * PEM of the CA that issues device certificates, obtained out of band (docs/tunnels.md): the
   * device's signature is checked against it, so the relay cannot substitute its own key.
   */
  deviceCa: string;
  /** Stops opening (OUTPOST_ABORTED). */
  signal?: AbortSignal;
}

/**
 * One tunnel session to a device target, end-to-end encrypted: the device proved with its
 * certificate key that it holds the other half of this session's key, so the server in between
 * relays ciphertext it cannot read or alter unnoticed. Each {@link forward}ed local connection is
 * one stream; {@link listen} forwards every connection accepted on a local port.
 */
export class OperatorTunnel {
  private nextConnection = 1;
  private readonly servers = new Set<Server>();
  private readonly done: Promise<Error | undefined>;

  private constructor(
    /** The session id (as `outpost tunnels` lists it). */
    readonly id: string,
    readonly device: string,
    readonly target: string,
    private readonly channel: Channel,
    private readonly session: Stream,
    private readonly own: KeyShare,
    private readonly deviceShare: Uint8Array,
  ) {
    this.done = session.closed().then((err) => {
      for (const s of this.servers) s.close();
      void channel.close();
      return err instanceof StreamResetError ? tunnelErrorFromReset(err) : err;
    });
  }

  /** @internal Use {@link openTunnel}. */
  static async open(endpoint: Endpoint, options: OpenTunnelOptions): Promise<OperatorTunnel> {
    const transport = await connectTunnelSocket(
      endpoint,
      `/api/devices/${encodeURIComponent(options.device)}/tunnel`,
      options.signal,
    );
    const channel = new Channel(transport, { requestTimeoutMs: 0, limits: TUNNEL_HOP_LIMITS });
    channel.setPeerLimits(TUNNEL_HOP_LIMITS);
    channel.enableStreams({ side: "device" });
    void (async () => {
      for await (const _ of channel.messages) {
        // nothing but stream frames is expected
      }
    })();
    const id = randomUUID();
    const own = createKeyShare();
    const session = channel.openStream({
      type: TUNNEL_STREAM_TYPE,
      header: encodeTunnelHeader({ session: { sessionId: id, target: options.target, operatorShare: own.publicKey } }),
    });
    try {
      const accept = await readAccept(session, options.signal);
      const deviceShare = verifyTunnelAccept(accept, {
        deviceCaPem: options.deviceCa,
        deviceId: options.device,
        sessionId: id,
        target: options.target,
        operatorShare: own.publicKey,
      });
      return new OperatorTunnel(id, options.device, options.target, channel, session, own, deviceShare);
    } catch (err) {
      const e = err instanceof StreamResetError ? tunnelErrorFromReset(err) : (err as Error);
      if (!(err instanceof StreamResetError)) session.reset(TunnelResetCode.Integrity, e.message);
      await channel.close();
      throw e;
    }
  }

  /** Resolves when the session ends: undefined after close(), else why (typed, e.g. OUTPOST_UNAVAILABLE when the device went away). */
  closed(): Promise<Error | undefined> {
    return this.done;
  }

  /**
   * Carries one local connection (a TCP socket, or stdin/stdout as one Duplex) to the target.
   * Resolves when it ends, with the bytes each way and the error, if any. Never rejects.
   */
  forward(socket: Duplex): Promise<TunnelPipeResult> {
    const connection = this.nextConnection++;
    let stream: Stream;
    try {
      stream = this.channel.openStream({
        type: TUNNEL_STREAM_TYPE,
        header: encodeTunnelHeader({ connect: { sessionId: this.id, connection } }),
      });
    } catch (err) {
      socket.destroy();
      return Promise.resolve({ sent: 0, received: 0, error: err as Error });
    }
    const keys = tunnelConnectionKeys({
      sessionId: this.id,
      connection,
      own: this.own,
      role: "initiator",
      operatorShare: this.own.publicKey,
      deviceShare: this.deviceShare,
    });
    return pipeTunnel(socket, stream, new TunnelRecords(keys)).then((r) =>
      r.error instanceof StreamResetError ? { ...r, error: tunnelErrorFromReset(r.error) } : r,
    );
  }

  /**
   * Listens on `host:port` (port 0: any free one) and forwards each accepted connection. Resolves
   * with the listening server once bound; it closes when the session ends.
   */
  listen(
    port: number,
    host = "127.0.0.1",
    onConnection?: (socket: Socket, done: Promise<TunnelPipeResult>) => void,
  ): Promise<Server> {
    const server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
      const done = this.forward(socket);
      onConnection?.(socket, done);
    });
    this.servers.add(server);
    server.once("close", () => this.servers.delete(server));
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => {
        server.off("error", reject);
        resolve(server);
      });
    });
  }

  /** Ends the session and every connection of it. */
  async close(): Promise<void> {
    this.session.reset(TunnelResetCode.Closed, "closed by the operator");
    await this.done;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** Reads the device's length-prefixed TunnelAccept from the session stream. */
async function readAccept(session: Stream, signal?: AbortSignal) {
  const decoder = new StreamFrameDecoder({ maxFrameBytes: 64 * 1024 });
  const onAbort = () => session.reset(TunnelResetCode.Closed, "aborted");
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    for (;;) {
      const chunk = await session.read();
      if (chunk === undefined)
        throw new OutpostError(ErrorCode.Integrity, "the tunnel session ended before the device answered");
      const [frame] = decoder.push(chunk);
      if (frame) return decodeTunnelAccept(frame);
    }
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
}
