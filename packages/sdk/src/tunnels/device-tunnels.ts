import type { KeyObject } from "node:crypto";
import { connect, type Socket } from "node:net";
import {
  createKeyShare,
  decodeTunnelHeader,
  encodeTunnelAccept,
  ErrorCode,
  isOutpostError,
  KEY_SHARE_BYTES,
  OutpostError,
  pipeTunnel,
  signTunnelTranscript,
  type Stream,
  tunnelConnectionKeys,
  TunnelRecords,
  TunnelResetCode,
  type TunnelSessionInit,
} from "@outpost/protocol";
import type { Logger } from "../logger.js";
import type { TunnelAuditRecord, TunnelEndReason, TunnelOptions } from "./options.js";
import { DeviceTunnelSession } from "./session.js";
import { parseTarget, type TargetAddress } from "./targets.js";

/** What {@link DeviceTunnels} needs from the client. */
export interface DeviceTunnelsDeps {
  /** The device certificate's private key: signs each session's transcript. */
  privateKey: KeyObject;
  /** DER of the device certificate, sent so the operator can check it against the device CA. */
  certificate: Uint8Array;
  /** The certificate's CN. */
  deviceId: string;
  logger: Logger;
  /** A failure the application should hear of (an audit sink that threw). */
  onError: (err: OutpostError) => void;
}

/**
 * The device end of tunnels (docs/tunnels.md): takes the server's "tunnel" streams, refuses any
 * target that is not allow-listed by name, asks the approver, answers each session with its key
 * share signed by the device key, and for each connection stream opens the TCP connection to the
 * target itself and pipes sealed records both ways.
 */
export class DeviceTunnels {
  private readonly targets = new Map<string, TargetAddress>();
  private readonly sessions = new Map<string, DeviceTunnelSession>();
  private openConnections = 0;
  private readonly maxSessions: number;
  private readonly maxConnections: number;

  constructor(
    private readonly options: TunnelOptions,
    private readonly deps: DeviceTunnelsDeps,
  ) {
    for (const [name, address] of Object.entries(options.targets)) this.targets.set(name, parseTarget(name, address));
    this.maxSessions = options.limits?.maxSessions ?? 4;
    this.maxConnections = options.limits?.maxConnections ?? 64;
  }

  /** Sessions open now. */
  get sessionCount(): number {
    return this.sessions.size;
  }

  /** Takes one stream of type "tunnel" from the server. Never throws. */
  accept(stream: Stream): void {
    let header;
    try {
      header = decodeTunnelHeader(stream.header);
    } catch (err) {
      stream.reset(TunnelResetCode.BadRequest, (err as Error).message);
      return;
    }
    if (header.session) void this.openSession(stream, header.session);
    else if (header.connect)
      this.openConnection(stream, header.connect.sessionId ?? "", header.connect.connection ?? 0);
  }

  /** Closes every session (the client is closing). */
  closeAll(): void {
    for (const s of this.sessions.values()) s.close(TunnelResetCode.Closed, "closed", "the device closed the tunnel");
  }

  private async openSession(stream: Stream, init: TunnelSessionInit): Promise<void> {
    const sessionId = init.sessionId ?? "";
    const target = init.target ?? "";
    const initiator = init.initiator ?? "";
    const refuse = (code: number, reason: TunnelEndReason, message: string) => {
      stream.reset(code, message);
      this.audit({ type: "tunnel.refused", sessionId, target, initiator, at: Date.now(), reason, message });
    };
    const address = this.targets.get(target);
    if (!address)
      return refuse(
        TunnelResetCode.TargetNotAllowed,
        "refused-target",
        `target ${JSON.stringify(target)} is not allowed on this device`,
      );
    if (!/^[\w.:-]{1,128}$/.test(sessionId) || this.sessions.has(sessionId))
      return refuse(TunnelResetCode.BadRequest, "error", "invalid or duplicate session id");
    if ((init.operatorShare?.byteLength ?? 0) !== KEY_SHARE_BYTES)
      return refuse(TunnelResetCode.BadRequest, "error", "the operator key share is not 32 bytes");
    if (this.sessions.size >= this.maxSessions)
      return refuse(
        TunnelResetCode.TooManyTunnels,
        "too-many-tunnels",
        `the device allows ${this.maxSessions} tunnel sessions at once`,
      );
    const session = new DeviceTunnelSession({
      id: sessionId,
      target,
      address,
      initiator,
      stream,
      operatorShare: init.operatorShare!,
      idleTimeoutMs: this.options.limits?.idleTimeoutMs ?? 600_000,
      maxSessionMs: this.options.limits?.maxSessionMs ?? 28_800_000,
      onEnd: (s, reason, message) => {
        this.sessions.delete(s.id);
        this.audit({
          type: "tunnel.end",
          sessionId: s.id,
          target,
          initiator,
          at: Date.now(),
          startedAt: s.startedAt,
          bytesIn: s.bytesIn,
          bytesOut: s.bytesOut,
          connections: s.connectionCount,
          reason,
          ...(message && { message }),
        });
      },
    });
    // Counted from the request on, so approvals waiting cannot exceed maxSessions either.
    this.sessions.set(sessionId, session);
    const verdict = await this.approval(session, stream);
    if (verdict !== "approved") {
      this.sessions.delete(sessionId);
      if (verdict === "withdrawn") return;
      const denied = verdict === "denied";
      return refuse(
        denied ? TunnelResetCode.Denied : TunnelResetCode.ApprovalTimeout,
        denied ? "denied" : "approval-timeout",
        denied ? "the tunnel was denied at the device" : "the device's approval timed out",
      );
    }
    const own = createKeyShare();
    const signature = signTunnelTranscript(this.deps.privateKey, {
      sessionId,
      deviceId: this.deps.deviceId,
      target,
      operatorShare: init.operatorShare!,
      deviceShare: own.publicKey,
    });
    try {
      stream.tryWrite(
        encodeTunnelAccept({
          deviceShare: own.publicKey,
          signature,
          certificate: this.deps.certificate,
          deviceId: this.deps.deviceId,
        }),
      );
    } catch {
      this.sessions.delete(sessionId);
      return;
    }
    session.start(own);
    this.audit({ type: "tunnel.start", sessionId, target, initiator, at: session.startedAt });
  }

  private async approval(
    session: DeviceTunnelSession,
    stream: Stream,
  ): Promise<"approved" | "denied" | "timeout" | "withdrawn"> {
    const approve = this.options.approve;
    if (!approve) return "approved";
    const controller = new AbortController();
    const timeoutMs = this.options.approvalTimeoutMs ?? 60_000;
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      Promise.resolve()
        .then(() =>
          approve({
            sessionId: session.id,
            target: session.target,
            address: `${session.address.host}:${session.address.port}`,
            initiator: session.initiator,
            signal: controller.signal,
          }),
        )
        .then(
          (ok) => (ok === true ? ("approved" as const) : ("denied" as const)),
          () => "denied" as const,
        ),
      new Promise<"timeout">((r) => {
        timer = setTimeout(() => r("timeout"), timeoutMs);
      }),
      stream.closed().then(() => "withdrawn" as const),
    ]);
    clearTimeout(timer);
    controller.abort();
    return outcome;
  }

  private openConnection(stream: Stream, sessionId: string, index: number): void {
    const session = this.sessions.get(sessionId);
    if (!session?.keys) {
      stream.reset(TunnelResetCode.BadRequest, "no open tunnel session of that id");
      return;
    }
    if (!session.claimIndex(index)) {
      stream.reset(TunnelResetCode.BadRequest, "connection index reused or out of order");
      return;
    }
    if (this.openConnections >= this.maxConnections) {
      stream.reset(
        TunnelResetCode.TooManyConnections,
        `the device allows ${this.maxConnections} tunnel connections at once`,
      );
      return;
    }
    const keys = tunnelConnectionKeys({
      sessionId,
      connection: index,
      own: session.keys,
      role: "responder",
      operatorShare: session.operatorShare,
      deviceShare: session.keys.publicKey,
    });
    this.openConnections += 1;
    session.connectionOpened(stream);
    const { host, port } = session.address;
    // No Nagle delay: what arrives through the tunnel is written out as the operator's side sent it.
    const socket: Socket = connect({ host, port, allowHalfOpen: true, noDelay: true });
    const connectTimer = setTimeout(
      () => socket.destroy(new OutpostError(ErrorCode.Timeout, `connecting to ${host}:${port} timed out`)),
      this.options.limits?.connectTimeoutMs ?? 10_000,
    );
    const done = () => {
      this.openConnections -= 1;
      session.connectionClosed(stream);
    };
    socket.once("error", (err) => {
      if (socket.connecting || !socket.remoteAddress) {
        clearTimeout(connectTimer);
        stream.reset(TunnelResetCode.TargetUnreachable, `cannot connect to ${session.target}: ${err.message}`);
        done();
      }
    });
    socket.once("connect", () => {
      clearTimeout(connectTimer);
      void pipeTunnel(socket, stream, new TunnelRecords(keys), { onBytes: (d, n) => session.count(d, n) }).then((r) => {
        if (r.error && isOutpostError(r.error) && r.error.code === ErrorCode.Integrity)
          session.close(TunnelResetCode.Integrity, "integrity", r.error.message);
        done();
      });
    });
  }

  private audit(record: TunnelAuditRecord): void {
    try {
      if (this.options.audit) this.options.audit(record);
      else this.deps.logger.info(record.type, { ...record });
    } catch (err) {
      this.deps.onError(new OutpostError(ErrorCode.Internal, "tunnel audit sink failed", { cause: err }));
    }
  }
}
