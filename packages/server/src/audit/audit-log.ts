import { closeSync, fchmodSync, fstatSync, fsync, fsyncSync, ftruncateSync, openSync, writeSync } from "node:fs";
import { ErrorCode, OutpostError } from "@outpost/protocol";
import { GENESIS_HASH, sealRecord } from "./chain.js";
import { type AuditAnchor, type AuditSigningKey, signCheckpoint, writeAnchor } from "./checkpoint.js";
import { readLastLine } from "./lines.js";
import type { AuditEvent, AuditRecord, AuditSink } from "./types.js";

/** Options for {@link FileAuditLog}. */
export interface FileAuditLogOptions {
  /** Clock for record times. Default `() => new Date()`. */
  now?: () => Date;
  /** fsync after every append (slower, survives power loss record by record). Default false: flush() syncs. */
  syncEveryAppend?: boolean;
  /**
   * Signed checkpoints (audit/checkpoint.ts): an `audit.checkpoint` record signed with `key` after
   * every `every` records (default 1000) and on close, and the latest written to `anchorPath`.
   * Default: none.
   */
  checkpoints?: { key: AuditSigningKey; every?: number; anchorPath?: string };
}

/**
 * Append-only, hash-chained JSON-lines audit log. Each line is one {@link AuditRecord}; `hash` is
 * SHA-256 over the canonical JSON of the record without `hash`, and `prev` is the previous record's
 * hash, so editing, deleting or reordering a line breaks the chain ({@link verifyAuditLog}).
 * The file is created with mode 0600. Appends are synchronous writes in call order. Opening an
 * existing log continues its chain; if another process (the CLI) appended meanwhile, the next
 * append notices the size change and continues from the new last record.
 *
 * A failed write (disk full, file size limit) throws OUTPOST_UNAVAILABLE and cuts the file back to
 * its size before the call, so no partial record stays behind; the next append tries again.
 */
export class FileAuditLog implements AuditSink {
  readonly path: string;
  readonly #now: () => Date;
  readonly #syncEach: boolean;
  #fd: number | undefined;
  #seq = 0;
  #prev = GENESIS_HASH;
  #size = 0;
  readonly #checkpoints: { key: AuditSigningKey; every: number; anchorPath?: string } | undefined;
  #sinceCheckpoint = 0;

  constructor(path: string, options: FileAuditLogOptions = {}) {
    this.path = path;
    this.#now = options.now ?? (() => new Date());
    this.#syncEach = options.syncEveryAppend ?? false;
    const cp = options.checkpoints;
    this.#checkpoints = cp && { ...cp, every: Math.max(1, cp.every ?? 1000) };
    try {
      this.#fd = openSync(path, "a+", 0o600);
      // Only a regular file is made private: a path that is a device (a log sent to /dev/null or a
      // test's /dev/full) must not have its mode changed for the whole system.
      if (fstatSync(this.#fd).isFile()) fchmodSync(this.#fd, 0o600);
    } catch (err) {
      throw new OutpostError(ErrorCode.InvalidConfig, `cannot open audit log ${path}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    try {
      this.#loadTail();
    } catch (err) {
      closeSync(this.#fd);
      this.#fd = undefined;
      throw err;
    }
  }

  /** Sequence number of the last record written (0 for an empty log). */
  get lastSeq(): number {
    return this.#seq;
  }

  append(event: AuditEvent): AuditRecord {
    const record = this.#write(event);
    this.#sinceCheckpoint += 1;
    if (this.#checkpoints && this.#sinceCheckpoint >= this.#checkpoints.every) {
      try {
        this.checkpoint();
      } catch {
        // The record is stored; the checkpoint is tried again after the next append.
      }
    }
    return record;
  }

  /**
   * Appends a signed `audit.checkpoint` record covering every record so far, writes it to the
   * anchor file, and returns the anchor. Throws when the log has no signing key or cannot be
   * written.
   */
  checkpoint(): AuditAnchor {
    const cp = this.#checkpoints;
    if (!cp) throw new OutpostError(ErrorCode.InvalidConfig, "this audit log has no signing key");
    const fd = this.#fd;
    if (fd !== undefined && fstatSync(fd).size !== this.#size) this.#loadTail();
    const anchor = signCheckpoint(cp.key, this.#seq, this.#prev, this.#now());
    this.#write({
      type: "audit.checkpoint",
      actor: "system",
      outcome: "success",
      details: { seq: anchor.seq, hash: anchor.hash, signature: anchor.signature, keyId: anchor.keyId },
    });
    this.#sinceCheckpoint = 0;
    if (cp.anchorPath) {
      try {
        writeAnchor(cp.anchorPath, anchor);
      } catch {
        // The checkpoint is in the log; the anchor file is rewritten at the next one.
      }
    }
    return anchor;
  }

  #write(event: AuditEvent): AuditRecord {
    const fd = this.#fd;
    if (fd === undefined) throw new OutpostError(ErrorCode.Unavailable, "audit log is closed");
    if (fstatSync(fd).size !== this.#size) this.#loadTail();
    const record = sealRecord(event, this.#seq + 1, this.#now(), this.#prev);
    const bytes = Buffer.from(`${JSON.stringify(record)}\n`, "utf8");
    let off = 0;
    try {
      while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
      if (this.#syncEach) fsyncSync(fd);
    } catch (err) {
      this.#rollBack(fd);
      throw new OutpostError(ErrorCode.Unavailable, `cannot write audit log ${this.path}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    this.#seq = record.seq;
    this.#prev = record.hash;
    this.#size += bytes.length;
    return record;
  }

  /** Makes every appended record durable (fsync). */
  flush(): Promise<void> {
    const fd = this.#fd;
    if (fd === undefined) return Promise.resolve();
    return new Promise((resolve, reject) => fsync(fd, (err) => (err ? reject(err) : resolve())));
  }

  /** Flushes and closes the file. Further appends fail with OUTPOST_UNAVAILABLE. */
  async close(): Promise<void> {
    if (this.#fd === undefined) return;
    if (this.#checkpoints && this.#sinceCheckpoint > 0) {
      try {
        this.checkpoint();
      } catch {
        // Closing must not fail for it: the records are stored, only not yet signed.
      }
    }
    await this.flush();
    closeSync(this.#fd);
    this.#fd = undefined;
  }

  // A write cut short (ENOSPC, EFBIG) may have left part of a line: cut it off so that the next
  // append, once there is room, continues a valid chain instead of writing after a torn record.
  #rollBack(fd: number): void {
    try {
      if (fstatSync(fd).size !== this.#size) ftruncateSync(fd, this.#size);
    } catch {
      // The next append re-reads the tail and refuses to continue a torn log.
    }
  }

  #loadTail(): void {
    const fd = this.#fd!;
    const size = fstatSync(fd).size;
    const { line, torn } = readLastLine(fd, size);
    if (torn) {
      throw new OutpostError(
        ErrorCode.InvalidConfig,
        `audit log ${this.path} ends with an incomplete record; check it with "outpost-server audit verify"`,
      );
    }
    if (line === undefined) {
      this.#seq = 0;
      this.#prev = GENESIS_HASH;
    } else {
      let last: Partial<AuditRecord> | undefined;
      try {
        last = JSON.parse(line) as Partial<AuditRecord>;
      } catch {
        last = undefined;
      }
      if (
        !last ||
        !Number.isSafeInteger(last.seq) ||
        typeof last.hash !== "string" ||
        !/^[0-9a-f]{64}$/.test(last.hash)
      ) {
        throw new OutpostError(
          ErrorCode.InvalidConfig,
          `audit log ${this.path} does not end with a valid record; check it with "outpost-server audit verify"`,
        );
      }
      this.#seq = last.seq!;
      this.#prev = last.hash;
    }
    this.#size = size;
  }
}
