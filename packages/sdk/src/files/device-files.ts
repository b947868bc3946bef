import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import {
  type FileEntry,
  type FileOpen,
  FileOp,
  type FileSink,
  type FileSource,
  isOutpostError,
  isoTime,
  isRetryable,
  type OpenFileStream,
  serveFileStream,
  type Stream,
  type TransferHooks,
  type TransferResult,
} from "@outpost/protocol";
import type { Logger } from "../logger.js";
import { type DeviceTransfer, type DeviceTransferOptions, DeviceTransfers } from "./device-transfers.js";
import { HandleSource, StagedFile, sweepStaging } from "./disk.js";
import { type DeviceFileAuditEvent, type FilesOptions, VirtualDirs } from "./vdirs.js";

const DEFAULT_RESUME_EXPIRY_MS = 24 * 60 * 60 * 1000;
const MD5_CACHE_ENTRIES = 1024;

/** Test hooks of the device's file service (not part of the public options). */
export interface DeviceFilesHooks extends TransferHooks {
  /** Replaces the fsync of a staged file before its commit. */
  sync?: (handle: import("node:fs/promises").FileHandle) => Promise<void>;
}

/**
 * The device's side of file transfers: serves the server's "file" streams (store into a vdir,
 * send from a vdir, list a vdir) and writes the device's file audit log.
 */
export class DeviceFiles {
  readonly vdirs: VirtualDirs;
  private readonly resumeExpiryMs: number;
  private readonly started = new Map<string, number>();
  private readonly md5Cache = new Map<string, string>();
  private readonly attemptBytes = new Map<string, number>();
  private readonly own: DeviceTransfers;
  /** Chunk payload bytes received and sent over all attempts, by transfer id (for operators and tests). */
  readonly counters = new Map<string, { received: number; sent: number; attempts: number }>();

  constructor(
    private readonly options: FilesOptions,
    private readonly logger: Logger,
    open: OpenFileStream,
    /** @internal Test hooks: tamper with sealed chunks, observe progress, replace the fsync. */
    public hooks: DeviceFilesHooks = {},
  ) {
    this.vdirs = new VirtualDirs(options);
    this.resumeExpiryMs = options.resumeExpiryMs ?? DEFAULT_RESUME_EXPIRY_MS;
    this.own = new DeviceTransfers(this.vdirs, open, (e) => this.audit(e), options.maxBytesPerSecond);
  }

  /**
   * Uploads a file of a vdir into this device's area of the server's repository; resolves once
   * the server committed it with matching MD5 and SHA-256 (resuming after disconnects).
   */
  upload(vdirPath: string, repositoryPath: string, options?: DeviceTransferOptions): Promise<DeviceTransfer> {
    return this.own.upload(vdirPath, repositoryPath, options);
  }

  /** Downloads a file of this device's repository area into a vdir (limits checked before the first byte). */
  download(repositoryPath: string, vdirPath: string, options?: DeviceTransferOptions): Promise<DeviceTransfer> {
    return this.own.download(repositoryPath, vdirPath, options);
  }

  /** The transfers this device started (the last 256). */
  transfers(): DeviceTransfer[] {
    return this.own.transfers();
  }

  /** Serves one "file" stream the server opened. */
  serve(stream: Stream): void {
    void serveFileStream(stream, {
      put: (open) => this.put(open),
      get: (open) => this.get(open),
      list: (path) => this.list(path),
      ...(this.options.maxBytesPerSecond && { maxBytesPerSecond: this.options.maxBytesPerSecond }),
      hooks: {
        ...(this.hooks.onSealedChunk && { onSealedChunk: this.hooks.onSealedChunk }),
        onProgress: (p) => {
          this.attemptBytes.set(p.transferId, p.bytesOnWire);
          this.hooks.onProgress?.(p);
        },
      },
      done: (open, outcome) => this.done(open, outcome),
    });
  }

  private async put(open: FileOpen & { size: number }): Promise<FileSink> {
    const path = open.path ?? "";
    const target = await this.vdirs.prepareWrite(path, open.size);
    await sweepStaging(target.stagingDir, this.resumeExpiryMs);
    this.begin(open, "receive", open.size);
    return new StagedFile({
      stagingDir: target.stagingDir,
      transferId: open.transferId ?? "",
      target: target.target,
      beforeCommit: target.recheck,
      ...(this.hooks.sync && { sync: this.hooks.sync }),
    });
  }

  private async get(open: FileOpen): Promise<FileSource> {
    const file = await this.vdirs.openRead(open.path ?? "");
    const source = await HandleSource.of(file.handle);
    this.begin(open, "send", source.size);
    return source;
  }

  private async list(path: string): Promise<FileEntry[]> {
    const entries = await this.vdirs.list(path);
    const base = path;
    const out: FileEntry[] = [];
    for (const e of entries) {
      const md5 = e.type === "file" ? await this.md5Of(`${base}/${e.name}`, e.size, e.mtimeMs) : "";
      out.push({ name: e.name, type: e.type, size: e.size, mtimeMs: e.mtimeMs, md5 });
    }
    return out;
  }

  private async md5Of(path: string, size: number, mtimeMs: number): Promise<string> {
    const key = `${path}\0${size}\0${mtimeMs}`;
    const cached = this.md5Cache.get(key);
    if (cached) return cached;
    let file;
    try {
      file = await this.vdirs.openRead(path);
    } catch {
      return "";
    }
    const hash = createHash("md5");
    try {
      for await (const chunk of createReadStream("", { fd: file.handle.fd, autoClose: false }))
        hash.update(chunk as Buffer);
    } finally {
      await file.handle.close().catch(() => undefined);
    }
    const md5 = hash.digest("hex");
    if (this.md5Cache.size >= MD5_CACHE_ENTRIES) this.md5Cache.delete(this.md5Cache.keys().next().value!);
    this.md5Cache.set(key, md5);
    return md5;
  }

  private begin(open: FileOpen, direction: "receive" | "send", size: number): void {
    const id = open.transferId ?? "";
    this.started.set(id, Date.now());
    this.attemptBytes.set(id, 0);
    const c = this.counters.get(id) ?? { received: 0, sent: 0, attempts: 0 };
    c.attempts++;
    this.counters.set(id, c);
    this.audit({
      event: "start",
      transferId: id,
      direction,
      initiator: "server",
      path: open.path ?? "",
      size,
      bytes: 0,
      durationMs: 0,
    });
  }

  private done(open: FileOpen, outcome: { result?: TransferResult; error?: Error }): void {
    if (open.op === FileOp.FILE_OP_LIST) return;
    const id = open.transferId ?? "";
    const t0 = this.started.get(id);
    if (t0 === undefined) return; // refused before it started: nothing was staged or read
    this.started.delete(id);
    const direction = open.op === FileOp.FILE_OP_PUT ? "receive" : "send";
    const c = this.counters.get(id);
    const bytes = outcome.result?.bytesOnWire ?? this.attemptBytes.get(id) ?? 0;
    this.attemptBytes.delete(id);
    if (c) c[direction === "receive" ? "received" : "sent"] += bytes;
    const base = {
      transferId: id,
      direction,
      initiator: "server",
      path: open.path ?? "",
      durationMs: Date.now() - t0,
    } as const;
    if (outcome.result) {
      const r = outcome.result;
      this.audit({ ...base, event: "completed", size: r.size, bytes, md5: r.md5, sha256: r.sha256 });
      return;
    }
    const err = outcome.error!;
    const cancelled = (err as { resetCode?: number }).resetCode === 256;
    this.audit({
      ...base,
      event: cancelled ? "cancelled" : "failed",
      size: 0,
      bytes,
      error: { code: isOutpostError(err) ? err.code : "OUTPOST_INTERNAL", message: err.message },
      ...(isRetryable(err) && !cancelled && { resumable: true }),
    });
  }

  private audit(event: Omit<DeviceFileAuditEvent, "time">): void {
    const sink = this.options.audit;
    if (!sink) return;
    try {
      sink({ ...event, time: isoTime() });
    } catch (err) {
      this.logger.warn("file audit sink failed", { error: String(err) });
    }
  }
}
