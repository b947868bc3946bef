import { isoTime } from "@outpost/protocol";
import type { TunnelApprovalRequest } from "@outpost/sdk";

/** A tunnel session waiting for a local decision. */
export interface PendingTunnel {
  id: string;
  target: string;
  address: string;
  initiator: string;
  /** When it was asked (ISO 8601). */
  since: string;
  /** The identity whose connection asked. */
  identity?: string;
}

/**
 * Holds tunnel requests until someone on the device approves or denies them (local API, `outpost-ems
 * tunnels approve|deny`). A request withdrawn or timed out by the SDK leaves the list.
 */
export class TunnelApprovals {
  private readonly pending = new Map<string, { info: PendingTunnel; decide(ok: boolean): void }>();

  constructor(private readonly identity?: string) {}

  /** The SDK's `approve` callback. */
  readonly approve = (req: TunnelApprovalRequest): Promise<boolean> =>
    new Promise<boolean>((resolve) => {
      const id = req.sessionId;
      const done = (ok: boolean): void => {
        req.signal.removeEventListener("abort", withdrawn);
        this.pending.delete(id);
        resolve(ok);
      };
      const withdrawn = (): void => done(false);
      if (req.signal.aborted) return resolve(false);
      req.signal.addEventListener("abort", withdrawn, { once: true });
      this.pending.set(id, {
        info: {
          id,
          target: req.target,
          address: req.address,
          initiator: req.initiator,
          since: isoTime(),
          ...(this.identity !== undefined && { identity: this.identity }),
        },
        decide: done,
      });
    });

  list(): PendingTunnel[] {
    return [...this.pending.values()].map((p) => p.info);
  }

  /** Approves or denies one request; false when no such request waits. */
  decide(id: string, ok: boolean): boolean {
    const p = this.pending.get(id);
    if (!p) return false;
    p.decide(ok);
    return true;
  }

  /** Denies everything waiting (the daemon is stopping). */
  close(): void {
    for (const p of [...this.pending.values()]) p.decide(false);
  }
}
