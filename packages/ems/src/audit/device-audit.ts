import { closeSync, existsSync, fsyncSync, openSync, readFileSync, truncateSync, writeSync } from "node:fs";
import {
  type AuditEvent,
  type AuditRecord,
  type AuditVerification,
  GENESIS_HASH,
  sealRecord,
  verifyAuditChain,
} from "@outpost/protocol";

/**
 * The device's hash-chained audit log (`DIR/audit.log`), in the server's record format (see
 * `@outpost/protocol` audit-chain.ts) so `verifyAuditChain` checks both. Each record is written and
 * fsync'ed before `append` returns. A last line cut short by a crash is removed at open (and
 * reported through `onTornTail`), so the chain continues from the last whole record.
 */
export class DeviceAuditLog {
  private seq = 0;
  private prev = GENESIS_HASH;
  private fd: number | undefined;

  constructor(
    readonly path: string,
    onTornTail: (droppedBytes: number) => void = () => {},
  ) {
    if (existsSync(path)) {
      const text = readFileSync(path, "utf8");
      const end = text.lastIndexOf("\n") + 1;
      if (end < text.length) {
        truncateSync(path, Buffer.byteLength(text.slice(0, end)));
        onTornTail(Buffer.byteLength(text.slice(end)));
      }
      const lines = text.slice(0, end).split("\n").filter(Boolean);
      const last = lines[lines.length - 1];
      if (last !== undefined) {
        const rec = JSON.parse(last) as AuditRecord;
        this.seq = rec.seq;
        this.prev = rec.hash;
      }
    }
    this.fd = openSync(path, "a", 0o600);
  }

  /** Seals, writes and fsyncs one record; returns it. Throws when the disk refuses the write. */
  append(event: AuditEvent): AuditRecord {
    if (this.fd === undefined) throw new Error("audit log is closed");
    const record = sealRecord(event, this.seq + 1, new Date(), this.prev);
    writeSync(this.fd, `${JSON.stringify(record)}\n`);
    fsyncSync(this.fd);
    this.seq = record.seq;
    this.prev = record.hash;
    return record;
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

/** Verifies a device audit log with the same verifier as the server's. A missing file is broken at seq 0. */
export function verifyDeviceAudit(path: string): AuditVerification {
  if (!existsSync(path)) return { ok: false, brokenAtSeq: 0, reason: `file not found: ${path}` };
  return verifyAuditChain((onLine) => {
    const text = readFileSync(path, "utf8");
    const lines = text.split("\n");
    const tail = lines.pop()!;
    for (const line of lines) if (!onLine(line, true)) return;
    if (tail !== "") onLine(tail, false);
  });
}
