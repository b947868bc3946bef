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
  | "file.transfer"
  | "tunnel.session";

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

/** Where the server writes audit events. Appends are ordered; flush() makes them durable. */
export interface AuditSink {
  append(event: AuditEvent): AuditRecord;
  flush(): Promise<void>;
  close(): Promise<void>;
}
