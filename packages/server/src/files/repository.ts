import { createHash, randomUUID } from "node:crypto";
import { constants, createReadStream } from "node:fs";
import { type FileHandle, mkdir, open, readdir, readFile, rename, rm, stat, statfs, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Readable } from "node:stream";
import { ErrorCode, type FileSink, type FileSource, OutpostError } from "@outpost/protocol";

/** One file of the repository. */
export interface RepositoryEntry {
  /** Path inside the device's area. */
  path: string;
  size: number;
  mtimeMs: number;
  /** Hex checksums, when known (recorded at upload and at the commit of a pull). */
  md5?: string;
  sha256?: string;
}

/**
 * The server's file repository, in areas (one per device id) of relative paths. The disk
 * implementation keeps it in the data directory; an object store can implement the same interface.
 *
 * Failure and durability: every method rejects with a typed error (OUTPOST_NOT_FOUND,
 * OUTPOST_PATH_REFUSED, OUTPOST_FILE_TOO_LARGE, OUTPOST_INSUFFICIENT_SPACE, or OUTPOST_INTERNAL for
 * an I/O error). A file becomes visible only whole: `write` and a sink's `commit` stage the bytes,
 * fsync them and rename them into place; a failed write leaves the previous file (or none).
 */
export interface FileRepository {
  /** Stores `body` (streamed, never held whole) at `path`; at most `maxBytes` bytes. */
  write(area: string, path: string, body: AsyncIterable<Uint8Array>, maxBytes: number): Promise<RepositoryEntry>;
  stat(area: string, path: string): Promise<RepositoryEntry | undefined>;
  /** Every file of the area, by path. */
  list(area: string): Promise<RepositoryEntry[]>;
  /** A readable stream of the file, for downloads. */
  read(area: string, path: string): Promise<{ entry: RepositoryEntry; body: Readable }>;
  /** The file as a transfer source. */
  source(area: string, path: string): Promise<FileSource>;
  /** A resumable staging sink for a pull into `path` (the same `transferId` finds its staged bytes). */
  sink(area: string, path: string, transferId: string): FileSink & { release(): Promise<void> };
  /** Records the checksums of a file committed by a sink. */
  recordChecksums(area: string, path: string, md5: string, sha256: string): Promise<void>;
  /** Free bytes where files are staged. */
  freeBytes(): Promise<number>;
}

/** Checks a repository path: relative, `/`-separated, no `.`/`..`/empty segments, NUL, backslash or control characters. */
export function checkRepositoryPath(path: string): string[] {
  if (typeof path !== "string" || path === "" || path.length > 1024)
    throw new OutpostError(ErrorCode.PathRefused, "repository path is empty or too long");
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f\\]/.test(path) || path.startsWith("/"))
    throw new OutpostError(ErrorCode.PathRefused, `repository path ${JSON.stringify(path)} is not a relative path`);
  const segments = path.split("/");
  for (const s of segments) {
    if (s === "" || s === "." || s === ".." || s.endsWith(".meta.json"))
      throw new OutpostError(ErrorCode.PathRefused, `repository path ${JSON.stringify(path)} has a bad segment`);
  }
  return segments;
}

const AREA = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/** {@link FileRepository} in a directory: `store/<area>/<path>`, checksums beside as `.meta.json`, `staging/`. */
export class DiskFileRepository implements FileRepository {
  private readonly store: string;
  private readonly staging: string;

  constructor(root: string) {
    this.store = join(root, "store");
    this.staging = join(root, "staging");
  }

  async write(area: string, path: string, body: AsyncIterable<Uint8Array>, maxBytes: number): Promise<RepositoryEntry> {
    const target = this.pathOf(area, path);
    await mkdir(this.staging, { recursive: true, mode: 0o700 });
    const tmp = join(this.staging, `upload-${randomUUID()}.part`);
    const md5 = createHash("md5");
    const sha = createHash("sha256");
    let size = 0;
    const h = await open(tmp, "w", 0o600);
    try {
      for await (const chunk of body) {
        size += chunk.byteLength;
        if (size > maxBytes)
          throw new OutpostError(ErrorCode.FileTooLarge, `file exceeds the repository limit of ${maxBytes} bytes`);
        md5.update(chunk);
        sha.update(chunk);
        await writeAll(h, chunk, size - chunk.byteLength);
      }
      await h.sync();
      await h.close();
      await mkdir(dirname(target), { recursive: true });
      await rename(tmp, target);
    } catch (err) {
      await h.close().catch(() => undefined);
      await rm(tmp, { force: true });
      throw err;
    }
    const sums = { md5: md5.digest("hex"), sha256: sha.digest("hex") };
    await this.recordChecksums(area, path, sums.md5, sums.sha256);
    const st = await stat(target);
    return { path, size, mtimeMs: Math.round(st.mtimeMs), ...sums };
  }

  async stat(area: string, path: string): Promise<RepositoryEntry | undefined> {
    const file = this.pathOf(area, path);
    const st = await stat(file).catch(() => undefined);
    if (!st?.isFile()) return undefined;
    return { path, size: st.size, mtimeMs: Math.round(st.mtimeMs), ...(await this.meta(file, st.size, st.mtimeMs)) };
  }

  async list(area: string): Promise<RepositoryEntry[]> {
    const base = this.areaDir(area);
    const out: RepositoryEntry[] = [];
    const walk = async (dir: string, prefix: string): Promise<void> => {
      for (const d of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
        const rel = prefix ? `${prefix}/${d.name}` : d.name;
        if (d.isDirectory()) await walk(join(dir, d.name), rel);
        else if (d.isFile() && !d.name.endsWith(".meta.json")) {
          const e = await this.stat(area, rel);
          if (e) out.push(e);
        }
      }
    };
    await walk(base, "");
    return out.sort((a, b) => (a.path < b.path ? -1 : 1));
  }

  async read(area: string, path: string): Promise<{ entry: RepositoryEntry; body: Readable }> {
    const entry = await this.stat(area, path);
    if (!entry) throw new OutpostError(ErrorCode.NotFound, `repository file ${path} does not exist`);
    return { entry, body: createReadStream(this.pathOf(area, path)) };
  }

  async source(area: string, path: string): Promise<FileSource> {
    const file = this.pathOf(area, path);
    const h = await open(file, constants.O_RDONLY).catch((cause: unknown) => {
      throw new OutpostError(ErrorCode.NotFound, `repository file ${path} does not exist`, { cause });
    });
    const st = await h.stat();
    return {
      size: st.size,
      version: `${st.size}:${Math.round(st.mtimeMs)}`,
      read: async (offset, length) => {
        const buffer = Buffer.allocUnsafe(length);
        let at = 0;
        while (at < length) {
          const { bytesRead } = await h.read(buffer, at, length - at, offset + at);
          if (bytesRead === 0) throw new OutpostError(ErrorCode.Conflict, "repository file became shorter");
          at += bytesRead;
        }
        return buffer;
      },
      close: () => h.close(),
    };
  }

  sink(area: string, path: string, transferId: string): FileSink & { release(): Promise<void> } {
    const target = this.pathOf(area, path);
    const part = join(this.staging, `${transferId}.part`);
    let h: FileHandle | undefined;
    const handle = async () => {
      if (!h) {
        await mkdir(this.staging, { recursive: true, mode: 0o700 });
        h = await open(part, constants.O_RDWR | constants.O_CREAT, 0o600);
      }
      return h;
    };
    const release = async () => {
      const x = h;
      h = undefined;
      await x?.close().catch(() => undefined);
    };
    return {
      staged: async () => (await stat(part).catch(() => undefined))?.size ?? 0,
      read: async (offset, length) => {
        const buffer = Buffer.allocUnsafe(length);
        const { bytesRead } = await (await handle()).read(buffer, 0, length, offset);
        if (bytesRead !== length) throw new OutpostError(ErrorCode.Internal, "staged file is shorter than recorded");
        return buffer;
      },
      truncate: async (length) => (await handle()).truncate(length),
      write: async (offset, data) => writeAll(await handle(), data, offset),
      commit: async () => {
        const x = await handle();
        await x.sync();
        await release();
        await mkdir(dirname(target), { recursive: true });
        await rename(part, target);
      },
      discard: async () => {
        await release();
        await rm(part, { force: true });
      },
      release,
    };
  }

  async recordChecksums(area: string, path: string, md5: string, sha256: string): Promise<void> {
    const file = this.pathOf(area, path);
    const st = await stat(file);
    await writeFile(`${file}.meta.json`, JSON.stringify({ size: st.size, mtimeMs: st.mtimeMs, md5, sha256 }));
  }

  async freeBytes(): Promise<number> {
    await mkdir(this.staging, { recursive: true, mode: 0o700 });
    const fs = await statfs(this.staging);
    return Number(fs.bavail) * Number(fs.bsize);
  }

  private areaDir(area: string): string {
    if (!AREA.test(area)) throw new OutpostError(ErrorCode.PathRefused, `bad repository area ${JSON.stringify(area)}`);
    return join(this.store, area);
  }

  private pathOf(area: string, path: string): string {
    return join(this.areaDir(area), ...checkRepositoryPath(path));
  }

  private async meta(file: string, size: number, mtimeMs: number): Promise<{ md5?: string; sha256?: string }> {
    try {
      const m = JSON.parse(await readFile(`${file}.meta.json`, "utf8")) as Record<string, unknown>;
      if (m.size === size && m.mtimeMs === mtimeMs && typeof m.md5 === "string" && typeof m.sha256 === "string")
        return { md5: m.md5, sha256: m.sha256 };
    } catch {
      // No checksums recorded.
    }
    return {};
  }
}

async function writeAll(h: FileHandle, data: Uint8Array, offset: number): Promise<void> {
  let at = 0;
  while (at < data.byteLength) {
    const { bytesWritten } = await h.write(data, at, data.byteLength - at, offset + at);
    at += bytesWritten;
  }
}
