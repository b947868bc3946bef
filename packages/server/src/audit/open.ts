import type { DataPaths } from "../config/layout.js";
import { FileAuditLog, type FileAuditLogOptions } from "./audit-log.js";
import { loadOrCreateAuditKey } from "./checkpoint.js";

/** Records between two signed checkpoints of a data directory's audit log. */
export const CHECKPOINT_EVERY = 1000;

/**
 * Opens a data directory's audit log with signed checkpoints: the signing key is created on first
 * use (`audit/signing.key`, mode 0600), and every checkpoint is also written to `audit/anchor.json`.
 */
export function openDataAuditLog(
  paths: Pick<DataPaths, "audit" | "auditKey" | "auditAnchor">,
  options: Omit<FileAuditLogOptions, "checkpoints"> = {},
): FileAuditLog {
  const key = loadOrCreateAuditKey(paths.auditKey);
  return new FileAuditLog(paths.audit, {
    ...options,
    checkpoints: { key, every: CHECKPOINT_EVERY, anchorPath: paths.auditAnchor },
  });
}
