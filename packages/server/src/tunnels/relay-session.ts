import { encodeTunnelHeader, type Stream, StreamResetError, TunnelResetCode } from "@outpost/protocol";
import { BytePacer } from "./pace.js";
import { linkResets, type RelayDirection, relayStream } from "./relay-pipe.js";
import type { TunnelInfo, TunnelRelayOptions } from "./types.js";

/** What a session needs from the relay. */
export interface RelaySessionDeps {
  options: TunnelRelayOptions;
  /** Opens a stream to the device; throws when it is not connected or has no streams. */
  openToDevice(header: Uint8Array): Stream;
  /** The session ended (audited by the relay). */
  onEnd(session: RelaySession, reason: string, message: string): void;
}

interface Pair {
  operator: Stream;
  device: Stream;
}

/**
 * One tunnel session on the server: the session stream and every connection stream, each relayed
 * between the operator's connection and the device's. The server reads only headers: the stream
 * bytes are the device's signed answer and sealed records.
 */
export class RelaySession {
  readonly startedAt = Date.now();
  readonly up: RelayDirection;
  readonly down: RelayDirection;
  connectionsTotal = 0;
  private readonly pairs = new Set<Pair>();
  private lastActivity = Date.now();
  private readonly timers: NodeJS.Timeout[] = [];
  private ended = false;
  private endReason: { reason: string; message: string } | undefined;
  private readonly sessionPair: Pair;

  constructor(
    readonly id: string,
    readonly deviceId: string,
    readonly target: string,
    readonly initiator: string,
    operatorStream: Stream,
    operatorShare: Uint8Array,
    private readonly deps: RelaySessionDeps,
  ) {
    const o = deps.options;
    const pacer = o.bytesPerSecond ? new BytePacer(o.bytesPerSecond) : undefined;
    const activity = () => {
      this.lastActivity = Date.now();
    };
    this.up = {
      bytes: 0,
      onActivity: activity,
      ...(o.tap && { tap: (c: Uint8Array) => o.tap!("to-device", c) }),
      ...(pacer && { pace: (n: number) => pacer.take(n) }),
    };
    this.down = {
      bytes: 0,
      onActivity: activity,
      ...(o.tap && { tap: (c: Uint8Array) => o.tap!("to-operator", c) }),
      ...(pacer && { pace: (n: number) => pacer.take(n) }),
    };
    const header = encodeTunnelHeader({ session: { sessionId: id, target, operatorShare, initiator } });
    const device = deps.openToDevice(header);
    this.sessionPair = { operator: operatorStream, device };
    this.relay(this.sessionPair);
    void Promise.all([operatorStream.closed(), device.closed()]).then(([a, b]) => this.finish(a, b));
    if (o.maxSessionMs !== 0)
      this.timers.push(
        setTimeout(
          () => this.close(TunnelResetCode.MaxDuration, "max-duration", "the tunnel reached its maximum duration"),
          o.maxSessionMs ?? 28_800_000,
        ),
      );
    const idle = o.idleTimeoutMs ?? 600_000;
    if (idle > 0) {
      this.timers.push(
        setInterval(
          () => {
            if (Date.now() - this.lastActivity >= idle)
              this.close(TunnelResetCode.IdleTimeout, "idle-timeout", "the tunnel was idle too long");
          },
          Math.max(50, Math.min(1_000, idle / 4)),
        ),
      );
    }
    for (const t of this.timers) t.unref();
  }

  /** Connections open now. */
  get openConnections(): number {
    return this.pairs.size;
  }

  /** Bytes the server holds for this session: received and not yet relayed, plus relayed and not yet sent. */
  get bufferedBytes(): number {
    let n = 0;
    for (const p of [this.sessionPair, ...this.pairs]) {
      n += p.operator.bufferedBytes + p.operator.queuedBytes + p.device.bufferedBytes + p.device.queuedBytes;
    }
    return n;
  }

  /** Relays one more connection of this session; `header` is the operator's, passed on unchanged. */
  addConnection(operator: Stream, header: Uint8Array): void {
    const device = this.deps.openToDevice(header);
    const pair = { operator, device };
    this.pairs.add(pair);
    this.connectionsTotal += 1;
    this.lastActivity = Date.now();
    this.relay(pair);
    void Promise.all([operator.closed(), device.closed()]).then(() => {
      this.pairs.delete(pair);
      this.lastActivity = Date.now();
    });
  }

  info(): TunnelInfo {
    return {
      id: this.id,
      deviceId: this.deviceId,
      target: this.target,
      initiator: this.initiator,
      startedAt: new Date(this.startedAt).toISOString(),
      bytesToDevice: this.up.bytes,
      bytesFromDevice: this.down.bytes,
      connections: this.pairs.size,
      connectionsTotal: this.connectionsTotal,
      bufferedBytes: this.bufferedBytes,
    };
  }

  /** Resets the session and all its connections on both hops with `code`. Idempotent. */
  close(code: number, reason: string, message: string): void {
    if (this.ended) return;
    this.endReason ??= { reason, message };
    for (const p of [...this.pairs, this.sessionPair]) {
      p.operator.reset(code, message);
      p.device.reset(code, message);
    }
  }

  private relay(pair: Pair): void {
    linkResets(pair.operator, pair.device);
    void relayStream(pair.operator, pair.device, this.up);
    void relayStream(pair.device, pair.operator, this.down);
  }

  private finish(operatorError: Error | undefined, deviceError: Error | undefined): void {
    if (this.ended) return;
    this.ended = true;
    for (const t of this.timers) clearTimeout(t);
    for (const p of this.pairs) {
      p.operator.reset(TunnelResetCode.Closed, "the tunnel session ended");
      p.device.reset(TunnelResetCode.Closed, "the tunnel session ended");
    }
    const how = this.endReason ?? describe(operatorError, deviceError);
    this.deps.onEnd(this, how.reason, how.message);
  }
}

function describe(
  operatorError: Error | undefined,
  deviceError: Error | undefined,
): { reason: string; message: string } {
  const err = deviceError ?? operatorError;
  if (!err) return { reason: "closed", message: "" };
  if (err instanceof StreamResetError) {
    if (err.resetCode === TunnelResetCode.DeviceGone) return { reason: "device-disconnected", message: err.message };
    if (!err.remote && deviceError && !(deviceError instanceof StreamResetError))
      return { reason: "device-disconnected", message: deviceError.message };
    const names: Record<number, string> = {
      256: "refused-target",
      257: "denied",
      258: "approval-timeout",
      259: "too-many-tunnels",
      260: "too-many-connections",
      261: "idle-timeout",
      262: "max-duration",
      265: "integrity",
    };
    return { reason: names[err.resetCode] ?? "closed", message: err.message };
  }
  return { reason: deviceError ? "device-disconnected" : "operator-disconnected", message: err.message };
}
