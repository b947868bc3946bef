import { ErrorCode, isOutpostError, StreamResetCode, StreamResetError, TunnelResetCode } from "@outpost/protocol";
import type { TunnelEndReason } from "./options.js";

const RESET_REASONS: Record<number, TunnelEndReason> = {
  [TunnelResetCode.TargetNotAllowed]: "refused-target",
  [TunnelResetCode.Denied]: "denied",
  [TunnelResetCode.ApprovalTimeout]: "approval-timeout",
  [TunnelResetCode.TooManyTunnels]: "too-many-tunnels",
  [TunnelResetCode.TooManyConnections]: "too-many-connections",
  [TunnelResetCode.IdleTimeout]: "idle-timeout",
  [TunnelResetCode.MaxDuration]: "max-duration",
  [TunnelResetCode.Integrity]: "integrity",
};

/** The audit reason for how a session stream ended. */
export function reasonOf(err: Error | undefined): { reason: TunnelEndReason; message?: string } {
  if (!err) return { reason: "closed" };
  if (err instanceof StreamResetError) {
    if (err.resetCode === StreamResetCode.Cancel || err.resetCode === TunnelResetCode.Closed)
      return { reason: "closed", message: err.message };
    return { reason: RESET_REASONS[err.resetCode] ?? "error", message: err.message };
  }
  if (isOutpostError(err) && err.code === ErrorCode.ConnectionClosed)
    return { reason: "disconnected", message: err.message };
  return { reason: "error", message: err.message };
}
