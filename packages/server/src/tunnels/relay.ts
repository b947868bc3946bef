import {
  type Channel,
  decodeTunnelHeader,
  ErrorCode,
  OutpostError,
  type Stream,
  StreamResetCode,
  TUNNEL_STREAM_TYPE,
  TunnelResetCode,
} from "@outpost/protocol";
import type { pino } from "pino";
import type { AuditSink } from "../audit/types.js";
import type { DeviceLinks } from "../things/device-links.js";
import { RelaySession } from "./relay-session.js";
import type { TunnelInfo, TunnelRelayOptions } from "./types.js";

/** Who opened an operator tunnel connection. */
export interface TunnelCaller {
  /** Operator name. */
  operator: string;
  source: string;
}

/** What the relay needs from the server. */
export interface TunnelRelayDeps {
  links: DeviceLinks;
  audit: AuditSink;
  logger: pino.Logger;
}

const SESSION_ID = /^[\w.:-]{1,128}$/;

/**
 * The server's tunnel relay (docs/tunnels.md): each operator tunnel connection (one WebSocket on
 * the operator API, permission `tunnel.open` already checked) carries one session; each of its
 * streams is relayed to one stream on the device's existing connection. Enforces the per-device
 * limits, the idle timeout, the maximum duration and the bandwidth cap, and audits start and end.
 */
export class TunnelRelay {
  private readonly sessions = new Map<string, RelaySession>();
  private readonly channels = new Set<Channel>();

  constructor(
    readonly options: TunnelRelayOptions,
    private readonly deps: TunnelRelayDeps,
  ) {}

  /** Serves one operator tunnel connection for `deviceId` until it closes. */
  serve(channel: Channel, caller: TunnelCaller, deviceId: string): void {
    this.channels.add(channel);
    let session: RelaySession | undefined;
    const onStream = (stream: Stream) => {
      try {
        session = this.take(stream, session, caller, deviceId) ?? session;
      } catch (err) {
        this.deps.logger.error({ err, deviceId }, "tunnel stream failed");
        stream.reset(StreamResetCode.Internal, "tunnel relay failed");
      }
    };
    channel.enableStreams({
      side: "server",
      onStream,
      writeHighWaterBytes: this.options.writeHighWaterBytes ?? 64 * 1024,
    });
    void (async () => {
      // Nothing but stream frames is expected on this connection; anything else is dropped.
      for await (const _ of channel.messages) {
        // ignore
      }
    })();
    void channel.closed().then(() => {
      this.channels.delete(channel);
      session?.close(TunnelResetCode.Closed, "operator-disconnected", "the operator disconnected");
    });
  }

  /** The sessions open now, for one device or all. */
  list(deviceId?: string): TunnelInfo[] {
    return [...this.sessions.values()].filter((s) => !deviceId || s.deviceId === deviceId).map((s) => s.info());
  }

  /** The session `id`, if open. */
  get(id: string): TunnelInfo | undefined {
    return this.sessions.get(id)?.info();
  }

  /** Closes session `id` on both hops; false when none is open. */
  close(id: string, by: string): boolean {
    const s = this.sessions.get(id);
    if (!s) return false;
    s.close(TunnelResetCode.Closed, "closed", `closed by ${by}`);
    return true;
  }

  /** Bytes the relay holds over all sessions (received and not yet relayed, relayed and not yet sent). */
  get bufferedBytes(): number {
    let n = 0;
    for (const s of this.sessions.values()) n += s.bufferedBytes;
    return n;
  }

  /** Ends every session (server shutdown). */
  closeAll(): void {
    for (const s of this.sessions.values()) s.close(TunnelResetCode.Closed, "closed", "the server is shutting down");
    for (const c of this.channels) void c.close();
  }

  private take(stream: Stream, session: RelaySession | undefined, caller: TunnelCaller, deviceId: string) {
    if (stream.type !== TUNNEL_STREAM_TYPE) {
      stream.reset(StreamResetCode.Refused, `stream type ${JSON.stringify(stream.type)} is not served here`);
      return undefined;
    }
    let header;
    try {
      header = decodeTunnelHeader(stream.header);
    } catch (err) {
      stream.reset(TunnelResetCode.BadRequest, (err as Error).message);
      return undefined;
    }
    if (header.connect) {
      if (!session || header.connect.sessionId !== session.id) {
        stream.reset(TunnelResetCode.BadRequest, "no open tunnel session of that id on this connection");
        return undefined;
      }
      const max = this.options.maxConnectionsPerDevice ?? 64;
      if (this.connectionsOf(deviceId) >= max) {
        stream.reset(TunnelResetCode.TooManyConnections, `the server allows ${max} tunnel connections per device`);
        return undefined;
      }
      try {
        session.addConnection(stream, stream.header);
      } catch (err) {
        stream.reset(TunnelResetCode.DeviceGone, `the device cannot take the connection: ${(err as Error).message}`);
      }
      return undefined;
    }
    const init = header.session!;
    const id = init.sessionId ?? "";
    const target = init.target ?? "";
    if (session || !SESSION_ID.test(id) || this.sessions.has(id)) {
      stream.reset(TunnelResetCode.BadRequest, "one session per connection, with a new session id");
      return undefined;
    }
    const max = this.options.maxTunnelsPerDevice ?? 8;
    if (this.list(deviceId).length >= max) {
      this.refused(caller, deviceId, target, "too-many-tunnels");
      stream.reset(TunnelResetCode.TooManyTunnels, `the server allows ${max} tunnels per device`);
      return undefined;
    }
    const link = this.deps.links.get(deviceId);
    if (!link?.openStream) {
      this.refused(caller, deviceId, target, "device-offline");
      stream.reset(TunnelResetCode.DeviceGone, `device ${deviceId} is not connected`);
      return undefined;
    }
    const initiator = `operator:${caller.operator}`;
    let created: RelaySession;
    try {
      created = new RelaySession(id, deviceId, target, initiator, stream, init.operatorShare ?? new Uint8Array(0), {
        options: this.options,
        openToDevice: (h) => {
          const l = this.deps.links.get(deviceId);
          if (!l?.openStream) throw new OutpostError(ErrorCode.Unavailable, "device not connected");
          return l.openStream({
            type: TUNNEL_STREAM_TYPE,
            header: h,
            writeHighWaterBytes: this.options.writeHighWaterBytes ?? 64 * 1024,
          });
        },
        onEnd: (s, reason, message) => {
          this.sessions.delete(s.id);
          this.deps.audit.append({
            type: "tunnel.session",
            actor: initiator,
            target: `device:${deviceId}`,
            outcome: reason === "closed" || reason === "operator-disconnected" ? "success" : "failure",
            source: caller.source,
            details: {
              event: "end",
              sessionId: s.id,
              tunnelTarget: target,
              startedAt: new Date(s.startedAt).toISOString(),
              endedAt: new Date().toISOString(),
              bytesToDevice: s.up.bytes,
              bytesFromDevice: s.down.bytes,
              connections: s.connectionsTotal,
              reason,
              ...(message && { message }),
            },
          });
        },
      });
    } catch (err) {
      this.refused(caller, deviceId, target, "device-offline");
      stream.reset(TunnelResetCode.DeviceGone, `device ${deviceId} cannot take a tunnel: ${(err as Error).message}`);
      return undefined;
    }
    this.sessions.set(id, created);
    this.deps.audit.append({
      type: "tunnel.session",
      actor: initiator,
      target: `device:${deviceId}`,
      outcome: "success",
      source: caller.source,
      details: { event: "start", sessionId: id, tunnelTarget: target },
    });
    return created;
  }

  private connectionsOf(deviceId: string): number {
    let n = 0;
    for (const s of this.sessions.values()) if (s.deviceId === deviceId) n += s.openConnections;
    return n;
  }

  private refused(caller: TunnelCaller, deviceId: string, target: string, reason: string): void {
    this.deps.audit.append({
      type: "tunnel.session",
      actor: `operator:${caller.operator}`,
      target: `device:${deviceId}`,
      outcome: "failure",
      source: caller.source,
      details: { event: "refused", tunnelTarget: target, reason },
    });
  }
}
