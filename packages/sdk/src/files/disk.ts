import { constants } from "node:fs";
import { type FileHandle, open, readdir, rename, rm, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { ErrorCode, type FileSink, type FileSource, OutpostError } from "@outpost/protocol";

/** A {@link FileSource} over an open file handle (closed by `close()`). */
export class HandleSource implements FileSource {
  readonly version: string;

  constructor(
    private readonly handle: FileHandle,
    readonly size: number,
    mtimeMs: number,
  ) {
    this.version = `${size}:${Math.round(mtimeMs)}`;
  }

  static async of(handle: FileHandle): Promise<HandleSource> {
    const st = await handle.stat();
    return new HandleSource(handle, st.size, st.mtimeMs);
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    const buffer = Buffer.allocUnsafe(length);
    let at = 0;
    while (at < length) {
      const { bytesRead } = await this.handle.read(buffer, at, length - at, offset + at);
      if (bytesRead === 0) throw new OutpostError(ErrorCode.Conflict, "the file became shorter while it was sent");
      at += bytesRead;
    }
    return buffer;
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}

/** Options of a {@link StagedFile}. */
export interface StagedFileOptions {
  /** Directory of the staging file; on the target's file system. */
  stagingDir: string;
  transferId: string;
  /** Where `commit()` renames the file. */
  target: string;
  /** Called right before the rename; throws to refuse the commit (e.g. the target left its vdir). */
  beforeCommit?: () => Promise<void>;
  /** Test hook: replaces the fsync before the rename. */
  sync?: (handle: FileHandle) => Promise<void>;
}

/**
 * A {@link FileSink} staging into `<stagingDir>/<transferId>.part`: kept across attempts (and
 * restarts) for resume; `commit()` fsyncs it, renames it over the target and fsyncs the directory,
 * so the target holds either its old content or the whole new file; `discard()` removes it.
 */
export class StagedFile implements FileSink {
  readonly path: string;
  private handle: FileHandle | undefined;

  constructor(private readonly options: StagedFileOptions) {
    this.path = join(options.stagingDir, `${options.transferId}.part`);
  }

  async staged(): Promise<number> {
    const st = await stat(this.path).catch(() => undefined);
    return st?.isFile() ? st.size : 0;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    const h = await this.open();
    const buffer = Buffer.allocUnsafe(length);
    const { bytesRead } = await h.read(buffer, 0, length, offset);
    if (bytesRead !== length) throw new OutpostError(ErrorCode.Internal, "staged file is shorter than recorded");
    return buffer;
  }

  async truncate(length: number): Promise<void> {
    await (await this.open()).truncate(length);
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    const h = await this.open();
    let at = 0;
    while (at < data.byteLength) {
      const { bytesWritten } = await h.write(data, at, data.byteLength - at, offset + at);
      at += bytesWritten;
    }
  }

  async commit(): Promise<void> {
    const h = await this.open();
    await (this.options.sync ?? ((x: FileHandle) => x.sync()))(h);
    await h.close();
    this.handle = undefined;
    await this.options.beforeCommit?.();
    await rename(this.path, this.options.target);
    await syncDir(dirname(this.options.target));
  }

  async discard(): Promise<void> {
    const h = this.handle;
    this.handle = undefined;
    await h?.close().catch(() => undefined);
    await rm(this.path, { force: true });
  }

  /** Closes the staging file, keeping it for a resume. */
  async release(): Promise<void> {
    const h = this.handle;
    this.handle = undefined;
    await h?.close().catch(() => undefined);
  }

  private async open(): Promise<FileHandle> {
    this.handle ??= await open(this.path, constants.O_RDWR | constants.O_CREAT, 0o600);
    return this.handle;
  }
}

/** Removes `.part` files older than `maxAgeMs` from a staging directory. Never throws. */
export async function sweepStaging(dir: string, maxAgeMs: number, now = Date.now()): Promise<number> {
  let removed = 0;
  try {
    for (const name of await readdir(dir)) {
      if (!name.endsWith(".part")) continue;
      const st = await stat(join(dir, name)).catch(() => undefined);
      if (st && now - st.mtimeMs > maxAgeMs) {
        await rm(join(dir, name), { force: true });
        removed++;
      }
    }
  } catch {
    // Nothing to sweep.
  }
  return removed;
}

async function syncDir(dir: string): Promise<void> {
  const h = await open(dir, constants.O_RDONLY).catch(() => undefined);
  if (!h) return;
  try {
    await h.sync();
  } catch {
    // Some file systems cannot fsync a directory; the rename is still atomic.
  } finally {
    await h.close();
  }
}
