import type { KeyShare, Stream } from "@outpost/protocol";
import { reasonOf } from "./reasons.js";
import type { TunnelEndReason } from "./options.js";
import type { TargetAddress } from "./targets.js";

/** Inputs of one {@link DeviceTunnelSession}. */
export interface DeviceTunnelSessionInit {
  id: string;
  target: string;
  address: TargetAddress;
  initiator: string;
  /** The session stream: its end (or reset) ends the session. */
  stream: Stream;
  operatorShare: Uint8Array;
  idleTimeoutMs: number;
  maxSessionMs: number;
  onEnd: (session: DeviceTunnelSession, reason: TunnelEndReason, message?: string) => void;
}

/** One accepted tunnel session on the device: its key share, connections, counters and timers. */
export class DeviceTunnelSession {
  readonly id: string;
  readonly target: string;
  readonly address: TargetAddress;
  readonly initiator: string;
  readonly operatorShare: Uint8Array;
  startedAt = Date.now();
  bytesIn = 0;
  bytesOut = 0;
  connectionCount = 0;
  /** This side's key share, once the session was accepted. */
  keys: KeyShare | undefined;
  private lastIndex = 0;
  private lastActivity = Date.now();
  private readonly connections = new Set<Stream>();
  private readonly timers: NodeJS.Timeout[] = [];
  private ended = false;
  private endReason: { reason: TunnelEndReason; message?: string } | undefined;

  constructor(private readonly init: DeviceTunnelSessionInit) {
    this.id = init.id;
    this.target = init.target;
    this.address = init.address;
    this.initiator = init.initiator;
    this.operatorShare = init.operatorShare;
  }

  /** The session was accepted with `keys`: starts its timers and watches its stream. */
  start(keys: KeyShare): void {
    this.keys = keys;
    this.startedAt = Date.now();
    this.lastActivity = this.startedAt;
    const { idleTimeoutMs, maxSessionMs, stream } = this.init;
    if (maxSessionMs > 0)
      this.timers.push(
        setTimeout(() => this.close(262, "max-duration", "the tunnel reached its maximum duration"), maxSessionMs),
      );
    if (idleTimeoutMs > 0) {
      const every = Math.max(50, Math.min(1_000, idleTimeoutMs / 4));
      this.timers.push(
        setInterval(() => {
          if (Date.now() - this.lastActivity >= idleTimeoutMs)
            this.close(261, "idle-timeout", "the tunnel was idle too long");
        }, every),
      );
    }
    for (const t of this.timers) t.unref();
    // The operator never writes on the session stream: its fin or reset ends the session.
    void (async () => {
      try {
        while ((await stream.read()) !== undefined) {
          // ignore
        }
        await stream.end();
      } catch {
        // reset or connection closed: closed() says which
      }
    })();
    void stream.closed().then((err) => this.finish(this.endReason ?? reasonOf(err)));
  }

  /** Claims connection index `n`: strictly increasing, never reused (a replayed connection is refused). */
  claimIndex(n: number): boolean {
    if (!Number.isSafeInteger(n) || n <= this.lastIndex) return false;
    this.lastIndex = n;
    return true;
  }

  connectionOpened(stream: Stream): void {
    this.connections.add(stream);
    this.connectionCount += 1;
    this.lastActivity = Date.now();
  }

  connectionClosed(stream: Stream): void {
    this.connections.delete(stream);
    this.lastActivity = Date.now();
  }

  count(direction: "in" | "out", n: number): void {
    if (direction === "in") this.bytesIn += n;
    else this.bytesOut += n;
    this.lastActivity = Date.now();
  }

  /** Ends the session and every connection of it with `code`. Idempotent. */
  close(code: number, reason: TunnelEndReason, message: string): void {
    if (this.ended) return;
    this.endReason ??= { reason, message };
    for (const c of this.connections) c.reset(code, message);
    this.init.stream.reset(code, message);
    if (!this.keys) this.finish(this.endReason);
  }

  private finish(how: { reason: TunnelEndReason; message?: string }): void {
    if (this.ended) return;
    this.ended = true;
    for (const t of this.timers) clearTimeout(t);
    for (const c of this.connections) c.reset(263, "the tunnel session ended");
    this.init.onEnd(this, how.reason, how.message);
  }
}
