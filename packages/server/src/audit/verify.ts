import { existsSync } from "node:fs";
import { type AuditVerification, verifyAuditChain, type VerifyAuditOptions } from "@outpost/protocol";
import { forEachLine } from "./lines.js";

export type { AuditVerification, VerifyAuditOptions } from "@outpost/protocol";

/**
 * Checks the audit log file at `path` with {@link verifyAuditChain} (chain, checkpoints, anchor),
 * reading it in chunks. Never throws for a bad file; a missing file is reported as broken at seq 0.
 */
export function verifyAuditLog(path: string, options: VerifyAuditOptions = {}): AuditVerification {
  if (!existsSync(path)) return { ok: false, brokenAtSeq: 0, reason: `file not found: ${path}` };
  return verifyAuditChain((onLine) => forEachLine(path, onLine), options);
}
