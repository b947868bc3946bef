import { ErrorCode, OutpostError } from "@outpost/protocol";
import type { DeviceFiles, DeviceTransfer } from "@outpost/sdk";

/** A transfer as the local API shows it: with the identity whose connection carries it. */
export type LocalTransfer = DeviceTransfer & { identity?: string };

/** What the file routes need: transfers of every identity, started on the one a request names. */
export interface LocalFilesApi {
  start(req: LocalTransferRequest): { transfer: LocalTransfer; done: Promise<LocalTransfer> };
  list(): LocalTransfer[];
  get(id: string): LocalTransfer | undefined;
  cancel(id: string): Promise<boolean>;
}

/** What a local process asks for: a vdir path and a repository path, optionally a rate cap. */
export interface LocalTransferRequest {
  direction: "upload" | "download";
  /** `upload`: a vdir path (`logs/app.log`); `download`: a path in this device's repository area. */
  from: string;
  /** `upload`: a repository path; `download`: a vdir path. */
  to: string;
  maxBytesPerSecond?: number;
  /** The identity whose connection and virtual directories to use. Default "default". */
  identity?: string;
}

/**
 * Transfers started through the local API: each runs in the background (resuming across
 * disconnects as the SDK does), can be cancelled, and is listed with its state. Failures stay in
 * the transfer's `error`, never reach the process.
 */
export class LocalFiles implements LocalFilesApi {
  private readonly running = new Map<string, { controller: AbortController; done: Promise<LocalTransfer> }>();

  constructor(
    private readonly files: DeviceFiles | undefined,
    private readonly identity?: string,
  ) {}

  /** Starts a transfer; resolves with its id and its state so far. */
  start(req: LocalTransferRequest): { transfer: LocalTransfer; done: Promise<LocalTransfer> } {
    const files = this.need();
    const controller = new AbortController();
    let id: string | undefined;
    const options = {
      signal: controller.signal,
      onStart: (transferId: string) => (id = transferId),
      ...(req.maxBytesPerSecond !== undefined && { maxBytesPerSecond: req.maxBytesPerSecond }),
    };
    const started =
      req.direction === "upload" ? files.upload(req.from, req.to, options) : files.download(req.from, req.to, options);
    if (id === undefined) throw new OutpostError(ErrorCode.Internal, "the transfer did not start");
    const transferId = id;
    const done = started
      .then(
        (t) => this.tag(t),
        () => this.get(transferId)!,
      )
      .finally(() => this.running.delete(transferId));
    this.running.set(transferId, { controller, done });
    return { transfer: this.get(transferId)!, done };
  }

  list(): LocalTransfer[] {
    return (this.files?.transfers() ?? []).map((t) => this.tag(t));
  }

  private tag(t: DeviceTransfer): LocalTransfer {
    return this.identity === undefined ? t : { ...t, identity: this.identity };
  }

  get(id: string): LocalTransfer | undefined {
    return this.list().find((t) => t.id === id);
  }

  /** Cancels a running transfer; false when it is not running (finished or unknown). */
  async cancel(id: string): Promise<boolean> {
    const r = this.running.get(id);
    if (!r) return false;
    r.controller.abort();
    await r.done;
    return true;
  }

  /** Cancels every running transfer (the daemon is stopping). */
  close(): void {
    for (const r of this.running.values()) r.controller.abort();
  }

  private need(): DeviceFiles {
    if (!this.files) {
      throw new OutpostError(ErrorCode.NotFound, "no virtual directories are configured (files.virtualDirs)");
    }
    return this.files;
  }
}

/** The HTTP status a failed transfer's error stands for, for `?wait=true` answers. */
export function statusOfTransferError(err: { code: string } | undefined): number {
  if (!err) return 200;
  if (err.code === ErrorCode.PathRefused || err.code === ErrorCode.BadRequest) return 400;
  if (err.code === ErrorCode.NotFound) return 404;
  if (err.code === ErrorCode.FileTooLarge) return 413;
  if (err.code === ErrorCode.InsufficientSpace) return 507;
  if (err.code === ErrorCode.Aborted) return 409;
  return 502;
}
