import type { AuditEvent, AuditRecord } from "@outpost/protocol";

// The record format is shared with the device's audit log: see @outpost/protocol audit-chain.ts.
export type { AuditEvent, AuditRecord, AuditType } from "@outpost/protocol";

/**
 * Where the server writes audit events. Appends are ordered and synchronous; flush() makes them
 * durable.
 *
 * Failure: a sink that cannot store a record (disk full, closed) throws from `append`, and must
 * then leave its log as it was before the call (no partial record), so that a later append, once
 * the cause is gone, continues a valid log. `flush` and `close` reject on failure. The server never
 * calls a sink directly: it wraps it in an `AuditGuard` (audit/guard.ts), whose `append` never throws and
 * returns undefined when the record was not stored; logins are refused while that is so.
 */
export interface AuditSink {
  /** Stores `event`; returns the stored record, or undefined when it was not stored (guard only). */
  append(event: AuditEvent): AuditRecord | undefined;
  flush(): Promise<void>;
  close(): Promise<void>;
}
