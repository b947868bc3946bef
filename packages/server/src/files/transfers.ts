import { randomUUID } from "node:crypto";
import {
  DEFAULT_CHUNK_BYTES,
  DEFAULT_WINDOW_CHUNKS,
  ErrorCode,
  type FileOpen,
  FileOp,
  getFile,
  isOutpostError,
  isRetryable,
  OutpostError,
  putFile,
  serveFileStream,
  type Stream,
  type TransferHooks,
  type TransferResult,
} from "@outpost/protocol";
import type { pino } from "pino";
import type { AuditSink } from "../audit/types.js";
import type { AsyncRegistry } from "../registry/async-types.js";
import type { FileTransferRecord } from "../registry/types.js";
import type { DeviceLink, DeviceLinks } from "../things/device-links.js";
import { checkRepositoryPath, type FileRepository } from "./repository.js";

/** Server-side file options. */
export interface FileServiceOptions {
  repository: FileRepository;
  /** Largest file accepted into the repository (upload or pull), in bytes. Default 4 GiB. */
  maxFileBytes?: number;
  /** Chunk size proposed to devices. Default 256 KiB. */
  chunkBytes?: number;
  /** Chunks in flight. Default 16. */
  windowChunks?: number;
  /** An interrupted transfer that has not resumed within this time fails, in ms. Default 86 400 000 (24 h). */
  resumeExpiryMs?: number;
  /** Bandwidth cap per device, bytes/s, for every transfer. Default 0: none. */
  maxBytesPerSecondPerDevice?: number;
  /** @internal Test hooks on every attempt (e.g. change a sealed chunk). */
  hooks?: TransferHooks;
}

/** What starts a transfer. */
export interface TransferRequest {
  deviceId: string;
  direction: "push" | "pull";
  repositoryPath: string;
  devicePath: string;
  /** "operator:<name>" or "device:<id>". */
  initiator: string;
  source?: string;
  /** Bandwidth cap of this transfer, bytes/s. Default 0: none. */
  maxBytesPerSecond?: number;
}

interface Deps {
  /** The registry's asynchronous view (`asyncRegistryOf(registry)` for the embedded SQLite one). */
  registry: Pick<AsyncRegistry, "getTransfer" | "listTransfers" | "putTransfer" | "transaction">;
  audit: AuditSink;
  links: DeviceLinks;
  logger: pino.Logger;
}

const DEFAULT_MAX_FILE = 4 * 1024 * 1024 * 1024;
const DEFAULT_EXPIRY = 24 * 60 * 60 * 1000;
const PERSIST_EVERY_MS = 500;
/** Attempts in a row that end without progress before a transfer fails. */
const MAX_FRUITLESS_ATTEMPTS = 5;

/**
 * The server's file transfers: queued per device in the registry (one runs at a time per device),
 * started when the device is connected, resumed from the last verified chunk after a disconnect or
 * a server restart, within the resume expiry. Every start, completion, failure and cancel is audited.
 */
export class TransferManager {
  readonly repository: FileRepository;
  readonly maxFileBytes: number;
  private readonly running = new Map<string, { id: string; abort: AbortController }>();
  private readonly fruitless = new Map<string, number>();
  private readonly expiryTimer: NodeJS.Timeout;
  private readonly unsubscribe: () => void;
  /** Devices whose next transfer is being looked up, and whether another look was asked for meanwhile. */
  private readonly looking = new Map<string, boolean>();
  /** Settles once the transfers a stopped server left running are marked interrupted. */
  private readonly recovered: Promise<void>;
  private closed = false;
  // Devices that may have a queued, running or interrupted transfer: the only ones whose transfers
  // are looked up when they connect (a fleet coming back after a restart has almost none).
  // Undefined when the transfers left running could not be read: then every device is looked up.
  private mayHaveActive: Set<string> | undefined = new Set();

  constructor(
    private readonly deps: Deps,
    private readonly options: FileServiceOptions,
  ) {
    this.repository = options.repository;
    this.maxFileBytes = options.maxFileBytes ?? DEFAULT_MAX_FILE;
    this.recovered = this.recover();
    this.unsubscribe = deps.links.onAdd((link) => this.kick(link.deviceId));
    this.expiryTimer = setInterval(() => this.expire(), 10_000);
    this.expiryTimer.unref();
    for (const link of deps.links.all()) this.kick(link.deviceId);
  }

  /** A transfer that was running when the server stopped resumes when its device is back. */
  private async recover(): Promise<void> {
    try {
      for (const t of await this.deps.registry.listTransfers({ active: true, limit: 100_000 })) {
        this.mayHaveActive?.add(t.deviceId);
        if (t.state === "running") this.save({ ...t, state: "interrupted" });
      }
    } catch (err) {
      this.mayHaveActive = undefined;
      this.deps.logger.error({ err }, "cannot read the file transfers left running");
    }
  }

  /** Queues a transfer and starts it when the device is connected. */
  async create(req: TransferRequest): Promise<FileTransferRecord> {
    checkRepositoryPath(req.repositoryPath);
    let size = 0;
    if (req.direction === "push") {
      const entry = await this.repository.stat(req.deviceId, req.repositoryPath);
      if (!entry) throw new OutpostError(ErrorCode.NotFound, `repository file ${req.repositoryPath} does not exist`);
      size = entry.size;
    }
    const now = Date.now();
    const record: FileTransferRecord = {
      ...this.blank(req.deviceId, req.direction, req.repositoryPath, req.devicePath, req.initiator, size, now),
      maxBytesPerSecond: req.maxBytesPerSecond ?? 0,
    };
    this.save(record);
    this.auditEvent(record, "start", req.source);
    this.kick(req.deviceId);
    return record;
  }

  private blank(
    deviceId: string,
    direction: "push" | "pull",
    repositoryPath: string,
    devicePath: string,
    initiator: string,
    size: number,
    now: number,
  ): FileTransferRecord {
    return {
      id: randomUUID(),
      deviceId,
      direction,
      initiator,
      repositoryPath,
      devicePath,
      size,
      state: "queued",
      bytesDone: 0,
      bytesMoved: 0,
      attempts: 0,
      chunkBytes: this.options.chunkBytes ?? DEFAULT_CHUNK_BYTES,
      md5: null,
      sha256: null,
      errorCode: null,
      error: null,
      sourceVersion: "",
      maxBytesPerSecond: 0,
      createdAt: now,
      updatedAt: now,
      startedAt: null,
      finishedAt: null,
      expiresAt: now + (this.options.resumeExpiryMs ?? DEFAULT_EXPIRY),
    };
  }

  get(id: string): Promise<FileTransferRecord | undefined> {
    return this.deps.registry.getTransfer(id);
  }

  list(filter: { deviceId?: string; active?: boolean } = {}): Promise<FileTransferRecord[]> {
    return this.deps.registry.listTransfers(filter);
  }

  /** Cancels a transfer that has not finished; the device and the repository discard what they staged. */
  async cancel(id: string, by: string, source?: string): Promise<FileTransferRecord> {
    // Read and written in one transaction: an attempt that ends meanwhile cannot overwrite the cancel.
    const outcome = await this.deps.registry.transaction(async (tx) => {
      const t = await tx.getTransfer(id);
      if (!t) throw new OutpostError(ErrorCode.NotFound, `no transfer ${id}`);
      if (isFinal(t.state)) throw new OutpostError(ErrorCode.Conflict, `transfer ${id} is already ${t.state}`);
      const done = finished(t, "cancelled", { errorCode: ErrorCode.Aborted, error: `cancelled by ${by}` });
      await tx.putTransfer(done);
      return { t, done };
    });
    const { t, done } = outcome;
    const run = this.running.get(t.deviceId);
    if (run?.id === id) run.abort.abort();
    if (t.direction === "pull") await this.repository.sink(t.deviceId, t.repositoryPath, t.id).discard();
    this.auditEvent(done, "cancelled", source, by);
    return done;
  }

  /**
   * Serves a "file" stream the device opened: an upload (PUT) into, or a download (GET) from, the
   * device's own repository area. Recorded as a transfer with initiator `device:<id>` and audited.
   */
  serveDevice(stream: Stream, deviceId: string, source?: string): void {
    let record: FileTransferRecord | undefined;
    const begin = (open: FileOpen, direction: "push" | "pull", size: number) => {
      const now = Date.now();
      record = {
        ...this.blank(deviceId, direction, open.path ?? "", "", `device:${deviceId}`, size, now),
        id: open.transferId ?? "",
        state: "running",
        startedAt: now,
        attempts: 1,
      };
      this.auditEvent(record, "start", source);
    };
    void serveFileStream(stream, {
      put: async (open) => {
        const path = open.path ?? "";
        checkRepositoryPath(path);
        if (open.size > this.maxFileBytes)
          throw new OutpostError(
            ErrorCode.FileTooLarge,
            `file of ${open.size} bytes exceeds the repository limit of ${this.maxFileBytes}`,
          );
        const free = await this.repository.freeBytes();
        if (free < open.size)
          throw new OutpostError(ErrorCode.InsufficientSpace, `file needs ${open.size} bytes, ${free} are free`);
        begin(open, "pull", open.size);
        return this.repository.sink(deviceId, path, `${deviceId}.${open.transferId ?? ""}`);
      },
      get: async (open) => {
        const src = await this.repository.source(deviceId, open.path ?? "");
        begin(open, "push", src.size);
        return src;
      },
      ...(this.options.maxBytesPerSecondPerDevice && { maxBytesPerSecond: this.options.maxBytesPerSecondPerDevice }),
      done: (open, outcome) => {
        const t = record;
        if (!t) return;
        const r = outcome.result;
        if (r) {
          if (open.op === FileOp.FILE_OP_PUT)
            void this.repository.recordChecksums(deviceId, t.repositoryPath, r.md5, r.sha256).catch(() => undefined);
          const done = this.finish(t, "completed", {
            md5: r.md5,
            sha256: r.sha256,
            size: r.size,
            bytesDone: r.size,
            bytesMoved: r.bytesOnWire,
          });
          this.auditEvent(done, "completed", source);
          return;
        }
        const err = outcome.error;
        if (isRetryable(err)) return; // the device resumes it with a new stream
        const code = isOutpostError(err) ? err.code : ErrorCode.Internal;
        const done = this.finish(t, "failed", { errorCode: code, error: err?.message ?? "failed" });
        this.auditEvent(done, "failed", source);
      },
    });
  }

  /** Stops starting transfers and aborts the running ones (they resume after a restart). */
  close(): void {
    this.closed = true;
    clearInterval(this.expiryTimer);
    this.unsubscribe();
    for (const r of this.running.values()) r.abort.abort(new OutpostError(ErrorCode.Unavailable, "server stopping"));
  }

  private kick(deviceId: string): void {
    if (this.closed || this.running.has(deviceId)) return;
    if (this.looking.has(deviceId)) {
      this.looking.set(deviceId, true);
      return;
    }
    this.looking.set(deviceId, false);
    void this.recovered
      .then(() =>
        this.mayHaveActive?.has(deviceId) === false
          ? []
          : this.deps.registry.listTransfers({ deviceId, active: true, limit: 1 }),
      )
      .then(
        (found) => found[0],
        (err: unknown) => {
          this.deps.logger.error({ err, deviceId }, "cannot read the queued file transfers");
          // null, not undefined: a failed read keeps the device marked.
          return null;
        },
      )
      .then((next) => {
        const again = this.looking.get(deviceId) === true;
        this.looking.delete(deviceId);
        if (next) this.start(deviceId, next);
        else if (again) this.kick(deviceId);
        else if (next === undefined) this.mayHaveActive?.delete(deviceId);
      });
  }

  private start(deviceId: string, next: FileTransferRecord): void {
    if (this.closed || this.running.has(deviceId)) return;
    const link = this.deps.links.get(deviceId);
    if (!link?.openStream) return;
    const abort = new AbortController();
    this.running.set(deviceId, { id: next.id, abort });
    void this.attempt(next, link, abort.signal)
      .catch((err: unknown) => this.deps.logger.error({ err, transfer: next.id }, "file transfer attempt failed"))
      .finally(() => {
        this.running.delete(deviceId);
        const again = this.deps.links.get(deviceId);
        if (again && !this.closed) setTimeout(() => this.kick(deviceId), this.retryDelay(deviceId)).unref();
      });
  }

  private retryDelay(deviceId: string): number {
    const n = this.fruitless.get(deviceId) ?? 0;
    return n === 0 ? 0 : Math.min(5000, 100 * 2 ** n);
  }

  private async attempt(initial: FileTransferRecord, link: DeviceLink, signal: AbortSignal): Promise<void> {
    let t: FileTransferRecord = {
      ...initial,
      state: "running",
      attempts: initial.attempts + 1,
      startedAt: initial.startedAt ?? Date.now(),
      updatedAt: Date.now(),
    };
    this.save(t);
    const doneBefore = t.bytesDone;
    let lastPersist = 0;
    let attemptBytes = 0;
    const hooks: TransferHooks = {
      ...this.options.hooks,
      onProgress: (p) => {
        attemptBytes = p.bytesOnWire;
        t = { ...t, bytesDone: p.bytesDone, size: p.size };
        const now = Date.now();
        if (now - lastPersist >= PERSIST_EVERY_MS) {
          lastPersist = now;
          void this.settle({ ...t, bytesMoved: initial.bytesMoved + attemptBytes, updatedAt: now });
        }
      },
    };
    const open = link.openStream!.bind(link);
    const common = {
      transferId: t.id,
      path: t.devicePath,
      chunkBytes: t.chunkBytes,
      windowChunks: this.options.windowChunks ?? DEFAULT_WINDOW_CHUNKS,
      hooks,
      signal,
      ...(this.capOf(t) > 0 && { maxBytesPerSecond: this.capOf(t) }),
    };
    let result: TransferResult | undefined;
    let failure: unknown;
    const sink = t.direction === "pull" ? this.repository.sink(t.deviceId, t.repositoryPath, t.id) : undefined;
    try {
      if (t.direction === "push") {
        const source = await this.repository.source(t.deviceId, t.repositoryPath);
        try {
          result = await putFile(open, source, common);
        } finally {
          await source.close().catch(() => undefined);
        }
      } else {
        result = await getFile(open, sink!, {
          ...common,
          stagedVersion: t.sourceVersion,
          onAccept: async ({ size, version }) => {
            if (size > this.maxFileBytes)
              throw new OutpostError(
                ErrorCode.FileTooLarge,
                `file of ${size} bytes exceeds the repository limit of ${this.maxFileBytes}`,
              );
            const free = await this.repository.freeBytes();
            const staged = version === t.sourceVersion ? await sink!.staged() : 0;
            if (free < size - staged)
              throw new OutpostError(ErrorCode.InsufficientSpace, `file needs ${size} bytes, ${free} are free`);
            t = { ...t, size, sourceVersion: version };
            this.save(t);
          },
        });
        await this.repository.recordChecksums(t.deviceId, t.repositoryPath, result.md5, result.sha256);
      }
    } catch (err) {
      failure = err;
      await sink?.release();
    }
    t = { ...t, bytesMoved: initial.bytesMoved + (result?.bytesOnWire ?? attemptBytes) };
    if (result) {
      const done = finished(t, "completed", {
        md5: result.md5,
        sha256: result.sha256,
        bytesDone: result.size,
        size: result.size,
      });
      if (!(await this.settle(done))) return; // cancelled meanwhile
      this.fruitless.delete(t.deviceId);
      this.auditEvent(done, "completed");
      return;
    }
    if ((await this.get(t.id))?.state !== "running") return; // cancelled meanwhile
    const progressed = t.bytesDone > doneBefore;
    const fruitless = progressed ? 0 : (this.fruitless.get(t.deviceId) ?? 0) + 1;
    this.fruitless.set(t.deviceId, fruitless);
    const code = isOutpostError(failure) ? failure.code : ErrorCode.Internal;
    const message = failure instanceof Error ? failure.message : String(failure);
    if (isRetryable(failure) && fruitless < MAX_FRUITLESS_ATTEMPTS && !this.closed) {
      await this.settle({ ...t, state: "interrupted", errorCode: code, error: message, updatedAt: Date.now() });
      return;
    }
    if (this.closed) {
      await this.settle({ ...t, state: "interrupted", updatedAt: Date.now() });
      return;
    }
    this.fruitless.delete(t.deviceId);
    const done = finished(t, "failed", { errorCode: code, error: message });
    if (!(await this.settle(done))) return; // cancelled meanwhile
    await sink?.discard();
    this.auditEvent(done, "failed");
  }

  /** The tighter of the transfer's and the device's cap (one transfer runs per device at a time). */
  private capOf(t: FileTransferRecord): number {
    const caps = [t.maxBytesPerSecond, this.options.maxBytesPerSecondPerDevice ?? 0].filter((c) => c > 0);
    return caps.length ? Math.min(...caps) : 0;
  }

  private expire(): void {
    void this.expireNow().catch((err: unknown) => this.deps.logger.error({ err }, "cannot expire file transfers"));
  }

  private async expireNow(): Promise<void> {
    const now = Date.now();
    for (const t of await this.deps.registry.listTransfers({ active: true, limit: 100_000 })) {
      if (t.state === "running" || t.expiresAt > now) continue;
      const done = finished(t, "failed", {
        errorCode: ErrorCode.Timeout,
        error: "not resumed within the resume expiry",
      });
      // Only if it was not started or finished since it was listed.
      if (!(await this.settle(done, (current) => current.state === t.state))) continue;
      if (t.direction === "pull") void this.repository.sink(t.deviceId, t.repositoryPath, t.id).discard();
      this.auditEvent(done, "failed");
    }
  }

  private finish(
    t: FileTransferRecord,
    state: "completed" | "failed" | "cancelled",
    patch: Partial<FileTransferRecord>,
  ): FileTransferRecord {
    const done = finished(t, state, patch);
    this.save(done);
    return done;
  }

  private noteActive(t: FileTransferRecord): void {
    if (t.state === "queued" || t.state === "running" || t.state === "interrupted") this.mayHaveActive?.add(t.deviceId);
  }

  /** Stores `t` (calls are applied in the order made); a storage failure is logged. */
  private save(t: FileTransferRecord): void {
    this.noteActive(t);
    this.deps.registry
      .putTransfer(t)
      .catch((err: unknown) => this.deps.logger.error({ err, transfer: t.id }, "cannot store file transfer state"));
  }

  /**
   * Stores `next` only while its stored state still passes `when` (default: running), read and
   * written in one transaction so that a cancel in between is not overwritten. False when it was
   * not stored for that reason; a storage failure is logged and counts as stored, like {@link save}.
   */
  private async settle(
    next: FileTransferRecord,
    when: (current: FileTransferRecord) => boolean = (current) => current.state === "running",
  ): Promise<boolean> {
    try {
      return await this.deps.registry.transaction(async (tx) => {
        const current = await tx.getTransfer(next.id);
        if (!current || !when(current)) return false;
        this.noteActive(next);
        await tx.putTransfer(next);
        return true;
      });
    } catch (err) {
      this.deps.logger.error({ err, transfer: next.id }, "cannot store file transfer state");
      return true;
    }
  }

  private auditEvent(t: FileTransferRecord, event: string, source?: string, by?: string): void {
    const failed = event === "failed" || event === "cancelled";
    this.deps.audit.append({
      type: "file.transfer",
      actor: by ? `operator:${by}` : t.initiator,
      target: `device:${t.deviceId}`,
      outcome: failed ? "failure" : "success",
      ...(source && { source }),
      ...(failed && t.errorCode && { code: t.errorCode }),
      details: {
        event,
        transfer: t.id,
        direction: t.direction,
        initiator: t.initiator,
        device: t.deviceId,
        repositoryPath: t.repositoryPath,
        devicePath: t.devicePath,
        size: t.size,
        bytes: t.bytesMoved,
        ...(t.md5 && { md5: t.md5, sha256: t.sha256 }),
        ...(t.startedAt && t.finishedAt && { durationMs: t.finishedAt - t.startedAt }),
        ...(failed && t.error && { error: t.error }),
      },
    });
  }
}

function isFinal(state: FileTransferRecord["state"]): boolean {
  return state === "completed" || state === "failed" || state === "cancelled";
}

function finished(
  t: FileTransferRecord,
  state: "completed" | "failed" | "cancelled",
  patch: Partial<FileTransferRecord>,
): FileTransferRecord {
  const now = Date.now();
  return { ...t, ...patch, state, updatedAt: now, finishedAt: now };
}
