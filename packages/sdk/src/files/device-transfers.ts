import { randomUUID } from "node:crypto";
import {
  AbortError,
  ErrorCode,
  type FileSink,
  getFile,
  isOutpostError,
  isRetryable,
  type OpenFileStream,
  OutpostError,
  putFile,
  type TransferResult,
} from "@outpost/protocol";
import { HandleSource, StagedFile } from "./disk.js";
import type { DeviceFileAuditEvent, VirtualDirs } from "./vdirs.js";

/** Options of {@link DeviceTransfers.upload} and {@link DeviceTransfers.download}. */
export interface DeviceTransferOptions {
  /** Cancels the transfer (rejects with OUTPOST_ABORTED; the server discards what it staged). */
  signal?: AbortSignal;
  /** Called as chunks are verified by the receiver. */
  onProgress?: (progress: { transferId: string; bytesDone: number; size: number }) => void;
  /** Attempts before giving up on a transfer that keeps being interrupted. Default 10. */
  maxAttempts?: number;
  /** Bandwidth cap, bytes/s. Default: the files option's maxBytesPerSecond, else none. */
  maxBytesPerSecond?: number;
  /** Called with the transfer's id before `upload()` / `download()` returns (to find it in `transfers()`). */
  onStart?: (transferId: string) => void;
}

/** A transfer this device started, as `files.transfers()` lists it. */
export interface DeviceTransfer {
  id: string;
  /** "upload": vdir → repository; "download": repository → vdir. */
  direction: "upload" | "download";
  vdirPath: string;
  repositoryPath: string;
  state: "running" | "completed" | "failed" | "cancelled";
  size: number;
  bytesDone: number;
  attempts: number;
  md5?: string;
  sha256?: string;
  error?: { code: string; message: string };
  startedAt: number;
  finishedAt?: number;
}

const MAX_LISTED = 256;

/** Transfers the device starts itself, over streams it opens to the server. */
export class DeviceTransfers {
  private readonly list: DeviceTransfer[] = [];

  constructor(
    private readonly vdirs: VirtualDirs,
    private readonly open: OpenFileStream,
    private readonly audit: (e: Omit<DeviceFileAuditEvent, "time">) => void,
    private readonly defaultRate: number | undefined,
  ) {}

  /** The transfers started on this client, newest last (the last 256). */
  transfers(): DeviceTransfer[] {
    return this.list.map((t) => ({ ...t }));
  }

  async upload(vdirPath: string, repositoryPath: string, options: DeviceTransferOptions = {}): Promise<DeviceTransfer> {
    const t = this.begin("upload", vdirPath, repositoryPath);
    return this.run(t, options, async (common) => {
      const file = await this.vdirs.openRead(vdirPath);
      const source = await HandleSource.of(file.handle);
      t.size = source.size;
      try {
        return await putFile(this.open, source, { ...common, path: repositoryPath });
      } finally {
        await source.close().catch(() => undefined);
      }
    });
  }

  async download(
    repositoryPath: string,
    vdirPath: string,
    options: DeviceTransferOptions = {},
  ): Promise<DeviceTransfer> {
    const t = this.begin("download", vdirPath, repositoryPath);
    return this.run(t, options, async (common) => {
      let inner: StagedFile | undefined;
      const need = () => {
        if (!inner) throw new OutpostError(ErrorCode.Internal, "staging used before the file was accepted");
        return inner;
      };
      const sink: FileSink = {
        staged: async () => 0,
        read: (o, l) => need().read(o, l),
        truncate: (l) => need().truncate(l),
        write: (o, d) => need().write(o, d),
        commit: () => need().commit(),
        discard: async () => inner?.discard(),
        release: async () => inner?.discard(),
      };
      return getFile(this.open, sink, {
        ...common,
        path: repositoryPath,
        onAccept: async ({ size }) => {
          const target = await this.vdirs.prepareWrite(vdirPath, size);
          t.size = size;
          inner = new StagedFile({
            stagingDir: target.stagingDir,
            transferId: t.id,
            target: target.target,
            beforeCommit: target.recheck,
          });
        },
      });
    });
  }

  private begin(direction: "upload" | "download", vdirPath: string, repositoryPath: string): DeviceTransfer {
    const t: DeviceTransfer = {
      id: randomUUID(),
      direction,
      vdirPath,
      repositoryPath,
      state: "running",
      size: 0,
      bytesDone: 0,
      attempts: 0,
      startedAt: Date.now(),
    };
    this.list.push(t);
    if (this.list.length > MAX_LISTED) this.list.shift();
    return t;
  }

  private async run(
    t: DeviceTransfer,
    options: DeviceTransferOptions,
    attempt: (common: {
      transferId: string;
      signal?: AbortSignal;
      maxBytesPerSecond?: number;
      hooks: { onProgress: (p: { bytesDone: number; size: number }) => void };
    }) => Promise<TransferResult>,
  ): Promise<DeviceTransfer> {
    const audit = (event: DeviceFileAuditEvent["event"], extra: Partial<DeviceFileAuditEvent> = {}) =>
      this.audit({
        event,
        transferId: t.id,
        direction: t.direction === "upload" ? "send" : "receive",
        initiator: "device",
        path: t.vdirPath,
        repositoryPath: t.repositoryPath,
        size: t.size,
        bytes: 0,
        durationMs: Date.now() - t.startedAt,
        ...extra,
      });
    audit("start");
    options.onStart?.(t.id);
    const maxAttempts = options.maxAttempts ?? 10;
    const rate = options.maxBytesPerSecond ?? this.defaultRate;
    let lastError: unknown;
    for (let n = 0; n < maxAttempts; n++) {
      if (options.signal?.aborted) break;
      t.attempts++;
      let moved = 0;
      try {
        const result = await attempt({
          transferId: t.id,
          ...(options.signal && { signal: options.signal }),
          ...(rate && { maxBytesPerSecond: rate }),
          hooks: {
            onProgress: (p) => {
              t.bytesDone = p.bytesDone;
              moved = (p as { bytesOnWire?: number }).bytesOnWire ?? moved;
              options.onProgress?.({ transferId: t.id, bytesDone: p.bytesDone, size: p.size });
            },
          },
        });
        Object.assign(t, {
          state: "completed",
          md5: result.md5,
          sha256: result.sha256,
          bytesDone: result.size,
          size: result.size,
          finishedAt: Date.now(),
        });
        audit("completed", { bytes: result.bytesOnWire, md5: result.md5, sha256: result.sha256, size: result.size });
        return { ...t };
      } catch (err) {
        lastError = err;
        if (options.signal?.aborted || (!isRetryable(err) && !isOutpostError(err, ErrorCode.Unavailable))) break;
        audit("failed", { bytes: moved, resumable: true, error: errorOf(err) });
        await sleep(Math.min(5000, 250 * 2 ** n), options.signal);
      }
    }
    const cancelled = options.signal?.aborted === true;
    const error = cancelled ? new AbortError("transfer cancelled") : asError(lastError);
    Object.assign(t, { state: cancelled ? "cancelled" : "failed", error: errorOf(error), finishedAt: Date.now() });
    audit(cancelled ? "cancelled" : "failed", { error: errorOf(error) });
    throw error;
  }
}

function errorOf(err: unknown): { code: string; message: string } {
  return {
    code: isOutpostError(err) ? err.code : ErrorCode.Internal,
    message: err instanceof Error ? err.message : String(err),
  };
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new OutpostError(ErrorCode.Internal, String(err));
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}
