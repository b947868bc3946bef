/** What a device's approver is asked before a tunnel session starts. */
export interface TunnelApprovalRequest {
  /** The session id chosen by the operator client. */
  sessionId: string;
  /** Target name, as allow-listed in `targets`. */
  target: string;
  /** Its `host:port`. */
  address: string;
  /** Who asked, as the server says (e.g. "operator:alice"). */
  initiator: string;
  /** Aborted when the request is withdrawn (the session stream ended) or the approval timed out. */
  signal: AbortSignal;
}

/** Why a tunnel session or connection ended, as the device audits it. */
export type TunnelEndReason =
  | "closed"
  | "refused-target"
  | "denied"
  | "approval-timeout"
  | "too-many-tunnels"
  | "too-many-connections"
  | "idle-timeout"
  | "max-duration"
  | "disconnected"
  | "integrity"
  | "error";

/** One record of the device's tunnel audit (start and end of every session, and every refusal). */
export interface TunnelAuditRecord {
  type: "tunnel.start" | "tunnel.end" | "tunnel.refused";
  sessionId: string;
  target: string;
  initiator: string;
  /** ms since epoch. */
  at: number;
  /** Set on "tunnel.end": when the session started, ms since epoch. */
  startedAt?: number;
  /** Plaintext bytes from the operator to the target ("tunnel.end"). */
  bytesIn?: number;
  /** Plaintext bytes from the target to the operator ("tunnel.end"). */
  bytesOut?: number;
  /** Connections carried ("tunnel.end"). */
  connections?: number;
  /** Why it ended or was refused. */
  reason?: TunnelEndReason;
  /** A human sentence about the reason, for errors. */
  message?: string;
}

/**
 * Where the device's tunnel audit goes. Called synchronously; a sink that throws is reported on
 * the client's "error" event and does not stop the tunnel. Durability is the sink's business (the
 * default writes each record to the client's logger at info level).
 */
export type TunnelAuditSink = (record: TunnelAuditRecord) => void;

/** Limits of the device's tunnels. */
export interface TunnelLimits {
  /** Concurrent tunnel sessions. Default 4. */
  maxSessions?: number;
  /** Concurrent TCP connections over all sessions. Default 64. */
  maxConnections?: number;
  /** A session with no byte moving either way for this long is closed, ms. Default 600_000 (10 min). 0: never. */
  idleTimeoutMs?: number;
  /** A session is closed after this long whatever it does, ms. Default 28_800_000 (8 h). 0: never. */
  maxSessionMs?: number;
  /** Timeout to connect to the target, ms. Default 10_000. */
  connectTimeoutMs?: number;
}

/** The `tunnels` option of EdgeClient: what the device lets operators reach. */
export interface TunnelOptions {
  /**
   * The allow-list: target name → `host:port` the device connects to, e.g.
   * `{ ssh: "127.0.0.1:22", web: "127.0.0.1:8080" }`. The server asks only by name; any other name
   * is refused on the device. The device never listens: it opens the target connection itself.
   */
  targets: Record<string, string>;
  /**
   * Local approval: called for every new session; resolve true to allow it. Without it every
   * request for an allow-listed target is allowed. Denial reaches the operator as OUTPOST_FORBIDDEN,
   * a timeout as OUTPOST_TIMEOUT; a throwing approver counts as a denial.
   */
  approve?: (request: TunnelApprovalRequest) => boolean | Promise<boolean>;
  /** How long `approve` may take, ms. Default 60_000. */
  approvalTimeoutMs?: number;
  limits?: TunnelLimits;
  /** Audit sink. Default: the client's logger at info level. */
  audit?: TunnelAuditSink;
}
