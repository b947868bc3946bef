/** Kinds of audit records. New kinds may be added; existing ones never change meaning. */
export type AuditType =
  | "login.success"
  | "login.failure"
  | "logout"
  | "denied"
  | "admin.change"
  | "operator.login.failure"
  | "property.write"
  | "service.invoke"
  /** A property write held as desired state, and what became of it (details.outcome). */
  | "property.desired"
  | "file.transfer"
  | "tunnel.session"
  /** Records could not be written for a while (disk full); written when writing works again. */
  | "audit.outage"
  /** A signed checkpoint over the chain so far (audit/checkpoint.ts). */
  | "audit.checkpoint";

/** One audit record as given by the caller; the log adds seq, time and the hash chain. */
export interface AuditEvent {
  type: AuditType;
  /** Who acted: "device:<id>", "operator:<name>", "key:<keyId>" or "system". Never a secret. */
  actor: string;
  /** What was acted on, e.g. "thing:pump-1/property:speed". */
  target?: string;
  outcome: "success" | "failure";
  /** Remote address of the connection, when there is one. */
  source?: string;
  /** Stable error code when outcome is failure. */
  code?: string;
  /** Extra fields (no secrets). */
  details?: Record<string, unknown>;
}

/** A stored record: the event plus sequence, time and the hash chain. */
export interface AuditRecord extends AuditEvent {
  seq: number;
  time: string;
  /** SHA-256 (hex) of the previous record's line; 64 zeros for the first. */
  prev: string;
  /** SHA-256 (hex) over this record without `hash`. */
  hash: string;
}

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
