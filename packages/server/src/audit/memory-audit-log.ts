import { GENESIS_HASH, sealRecord } from "./chain.js";
import type { AuditEvent, AuditRecord, AuditSink } from "./types.js";

/** Options for {@link MemoryAuditLog}. */
export interface MemoryAuditLogOptions {
  /** Clock for record times. Default `() => new Date()`. */
  now?: () => Date;
}

/** An audit sink that keeps its hash-chained records in memory; for tests and embedding. */
export class MemoryAuditLog implements AuditSink {
  readonly records: AuditRecord[] = [];
  readonly #now: () => Date;

  constructor(options: MemoryAuditLogOptions = {}) {
    this.#now = options.now ?? (() => new Date());
  }

  append(event: AuditEvent): AuditRecord {
    const last = this.records.at(-1);
    const record = sealRecord(event, (last?.seq ?? 0) + 1, this.#now(), last?.hash ?? GENESIS_HASH);
    this.records.push(record);
    return record;
  }

  /** Records of one type, in order. */
  ofType(type: AuditEvent["type"]): AuditRecord[] {
    return this.records.filter((r) => r.type === type);
  }

  async flush(): Promise<void> {}

  async close(): Promise<void> {}
}
