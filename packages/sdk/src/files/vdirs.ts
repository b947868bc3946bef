import { constants } from "node:fs";
import { type FileHandle, lstat, mkdir, open, readdir, readlink, realpath, stat, statfs } from "node:fs/promises";
import { join, sep } from "node:path";
import { ErrorCode, OutpostError } from "@outpost/protocol";
import { FileTooLargeError, InsufficientSpaceError, PathRefusedError } from "./errors.js";
import { parseVdirPath, STAGING_NAME, type VdirPath } from "./paths.js";

/** Device-side file options (`EdgeClient` option `files`). */
export interface FilesOptions {
  /** Virtual directory name → local directory. Every transfer path is `<name>/<relative path>`. */
  virtualDirs: Record<string, string>;
  /** Largest file received, in bytes. Default 4 GiB. */
  maxFileBytes?: number;
  /**
   * Where incoming files are staged until committed. It must be on the same file system as every
   * vdir (commit is a rename). Default: a `.outpost-staging` directory inside each vdir root.
   */
  stagingDir?: string;
  /** Staged data of an interrupted transfer is kept this long for a resume, in ms. Default 86 400 000 (24 h). */
  resumeExpiryMs?: number;
  /** Bandwidth cap of every transfer this device serves, bytes/s (for metered links). Default: none. */
  maxBytesPerSecond?: number;
  /** Device audit log of file transfers (start, completed, failed, cancelled). Default: none. */
  audit?: DeviceAuditSink;
}

/** One record of the device's file audit log. */
export interface DeviceFileAuditEvent {
  event: "start" | "completed" | "failed" | "cancelled";
  transferId: string;
  /** "receive": a file written into a vdir; "send": a file read from a vdir. */
  direction: "receive" | "send";
  /** Who started the transfer: "server" (an operator or the server) or "device". */
  initiator: "server" | "device";
  /** The vdir path on this device. */
  path: string;
  /** The repository path, for transfers the device started. */
  repositoryPath?: string;
  size: number;
  /** Chunk bytes this attempt moved. */
  bytes: number;
  md5?: string;
  sha256?: string;
  durationMs: number;
  error?: { code: string; message: string };
  /** On "failed": the staged data is kept and a new attempt resumes it. */
  resumable?: boolean;
  /** ISO 8601 time of the record. */
  time: string;
}

/**
 * Receives the device's file audit records. Failure: a sink that throws loses that record; the
 * transfer is not affected and the error is logged.
 */
export type DeviceAuditSink = (event: DeviceFileAuditEvent) => void;

/** A regular file inside a vdir, opened for reading and checked on the open descriptor. */
export interface OpenedFile {
  handle: FileHandle;
  size: number;
  /** The file's real path (symlinks resolved), inside its vdir. */
  realPath: string;
}

/** Where a received file goes: checked before the first byte, re-checked before commit. */
export interface WriteTarget {
  /** Absolute path the file is renamed to at commit. */
  target: string;
  /** Directory of its staging file (same file system as `target`). */
  stagingDir: string;
  /** Re-checks that `target`'s directory is still inside the vdir (call right before the rename). */
  recheck(): Promise<void>;
}

/** One entry of a vdir listing. */
export interface VdirEntry {
  name: string;
  type: "file" | "directory" | "other";
  size: number;
  /** Last modification, ms since epoch. */
  mtimeMs: number;
}

export const DEFAULT_MAX_FILE_BYTES = 4 * 1024 * 1024 * 1024;
const VDIR_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/**
 * The device's virtual directories: maps `<vdir>/<path>` to a local file and confines it there.
 * The string is checked first ({@link parseVdirPath}); then the opened file itself: its real path
 * (from the open descriptor on Linux, else realpath plus an inode comparison with the descriptor)
 * must lie inside the vdir's real root, and it must be a regular file, so a symlink or a rename
 * racing the check cannot lead out.
 */
export class VirtualDirs {
  readonly maxFileBytes: number;
  private readonly roots: Map<string, string>;
  private readonly stagingDir: string | undefined;

  constructor(options: FilesOptions) {
    this.roots = new Map();
    for (const [name, dir] of Object.entries(options.virtualDirs ?? {})) {
      if (!VDIR_NAME.test(name) || name === STAGING_NAME)
        throw new OutpostError(
          ErrorCode.InvalidConfig,
          `files.virtualDirs: ${JSON.stringify(name)} is not a valid name`,
        );
      if (typeof dir !== "string" || dir === "")
        throw new OutpostError(ErrorCode.InvalidConfig, `files.virtualDirs.${name}: a directory is required`);
      this.roots.set(name, dir);
    }
    const max = options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
    if (!Number.isSafeInteger(max) || max <= 0)
      throw new OutpostError(ErrorCode.InvalidConfig, `files.maxFileBytes ${max} is not a positive integer`);
    this.maxFileBytes = max;
    this.stagingDir = options.stagingDir;
  }

  /** The vdir names served. */
  get names(): string[] {
    return [...this.roots.keys()];
  }

  /** Opens `path` for reading. Refuses with PathRefusedError (OUTPOST_NOT_FOUND when it does not exist). */
  async openRead(path: string): Promise<OpenedFile> {
    const parsed = parseVdirPath(path);
    const root = await this.realRoot(parsed);
    const abs = join(root, ...parsed.segments);
    let handle: FileHandle;
    try {
      // O_NONBLOCK: opening a FIFO must not hang; O_NOCTTY: a tty must not become ours.
      handle = await open(abs, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
    } catch (cause) {
      throw fsError(cause, path);
    }
    try {
      const st = await handle.stat();
      if (!st.isFile()) throw new PathRefusedError("not-a-file", `${path} is not a regular file`);
      const real = await realPathOf(handle, abs, st);
      if (!inside(root, real)) throw new PathRefusedError("outside", `${path} leads out of its virtual directory`);
      return { handle, size: st.size, realPath: real };
    } catch (err) {
      await handle.close().catch(() => undefined);
      throw err;
    }
  }

  /**
   * Checks that a file of `size` bytes may be written at `path` (size limit, free space, the
   * target directory inside the vdir; created when missing) and returns where it goes.
   */
  async prepareWrite(path: string, size: number): Promise<WriteTarget> {
    const parsed = parseVdirPath(path);
    if (!Number.isSafeInteger(size) || size < 0)
      throw new OutpostError(ErrorCode.BadRequest, `file size ${size} invalid`);
    if (size > this.maxFileBytes) throw new FileTooLargeError(size, this.maxFileBytes);
    const root = await this.realRoot(parsed);
    const dirSegments = parsed.segments.slice(0, -1);
    const dir = await confinedMkdir(root, dirSegments, path);
    const target = join(dir, parsed.segments.at(-1)!);
    const existing = await lstat(target).catch(() => undefined);
    if (existing && !existing.isFile() && !existing.isSymbolicLink())
      throw new PathRefusedError("not-a-file", `${path} exists and is not a regular file`);
    const stagingDir = await this.stagingFor(root);
    const fs = await statfs(stagingDir);
    const available = Number(fs.bavail) * Number(fs.bsize);
    if (available < size) throw new InsufficientSpaceError(size, available);
    return {
      target,
      stagingDir,
      recheck: async () => {
        const real = await realpath(dir).catch((cause) => {
          throw fsError(cause, path);
        });
        if (!inside(root, real)) throw new PathRefusedError("outside", `${path} leads out of its virtual directory`);
      },
    };
  }

  /** Lists a directory inside a vdir (`"logs"` or `"logs/sub"`), without the staging directory. */
  async list(path: string): Promise<VdirEntry[]> {
    const parsed = parseVdirPath(path, true);
    const root = await this.realRoot(parsed);
    const abs = join(root, ...parsed.segments);
    const real = await realpath(abs).catch((cause) => {
      throw fsError(cause, path);
    });
    if (!inside(root, real)) throw new PathRefusedError("outside", `${path} leads out of its virtual directory`);
    const st = await stat(real);
    if (!st.isDirectory()) throw new PathRefusedError("not-a-directory", `${path} is not a directory`);
    const entries: VdirEntry[] = [];
    for (const d of await readdir(real, { withFileTypes: true })) {
      if (d.name === STAGING_NAME) continue;
      const s = await lstat(join(real, d.name)).catch(() => undefined);
      if (!s) continue;
      const type = s.isFile() ? "file" : s.isDirectory() ? "directory" : "other";
      entries.push({ name: d.name, type, size: s.isFile() ? s.size : 0, mtimeMs: Math.round(s.mtimeMs) });
    }
    return entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** The staging directory used for files going into vdir `vdir` (created when missing). */
  async stagingDirOf(vdir: string): Promise<string> {
    return this.stagingFor(await this.realRoot({ vdir, segments: [] }));
  }

  private async realRoot(parsed: VdirPath): Promise<string> {
    const dir = this.roots.get(parsed.vdir);
    if (dir === undefined)
      throw new PathRefusedError("unknown-vdir", `no virtual directory ${JSON.stringify(parsed.vdir)}`);
    try {
      return await realpath(dir);
    } catch (cause) {
      throw new OutpostError(ErrorCode.NotFound, `virtual directory ${parsed.vdir} is not available`, { cause });
    }
  }

  private async stagingFor(root: string): Promise<string> {
    if (this.stagingDir === undefined) {
      const dir = join(root, STAGING_NAME);
      await mkdir(dir, { recursive: true, mode: 0o700 });
      return dir;
    }
    await mkdir(this.stagingDir, { recursive: true, mode: 0o700 });
    const [a, b] = await Promise.all([stat(this.stagingDir), stat(root)]);
    if (a.dev !== b.dev)
      throw new OutpostError(
        ErrorCode.InvalidConfig,
        "files.stagingDir is not on the file system of the virtual directory",
      );
    return this.stagingDir;
  }
}

function inside(root: string, real: string): boolean {
  return real === root || real.startsWith(root.endsWith(sep) ? root : root + sep);
}

async function realPathOf(handle: FileHandle, abs: string, st: { dev: number; ino: number }): Promise<string> {
  try {
    const real = await readlink(`/proc/self/fd/${handle.fd}`);
    if (real.startsWith("/")) return real.replace(/ \(deleted\)$/, "");
  } catch {
    // No /proc: fall back to realpath and prove it names the file we opened.
  }
  const real = await realpath(abs);
  const again = await stat(real);
  if (again.dev !== st.dev || again.ino !== st.ino)
    throw new PathRefusedError("outside", "the file changed while it was being opened");
  return real;
}

/** Creates the missing directories of `segments` below `root`, refusing any that resolves outside. */
async function confinedMkdir(root: string, segments: string[], path: string): Promise<string> {
  let dir = root;
  for (const segment of segments) {
    const next = join(dir, segment);
    const st = await lstat(next).catch(() => undefined);
    if (!st)
      await mkdir(next).catch((cause: NodeJS.ErrnoException) => {
        if (cause.code !== "EEXIST") throw fsError(cause, path);
      });
    const real = await realpath(next).catch((cause) => {
      throw fsError(cause, path);
    });
    if (!inside(root, real)) throw new PathRefusedError("outside", `${path} leads out of its virtual directory`);
    const rs = await stat(real);
    if (!rs.isDirectory()) throw new PathRefusedError("not-a-directory", `${segment} in ${path} is not a directory`);
    dir = real;
  }
  return dir;
}

function fsError(cause: unknown, path: string): OutpostError {
  const code = (cause as NodeJS.ErrnoException)?.code;
  if (code === "ENOENT") return new OutpostError(ErrorCode.NotFound, `${path} does not exist`, { cause });
  if (code === "ELOOP") return new PathRefusedError("outside", `${path}: too many symlinks`, { cause });
  if (code === "EISDIR" || code === "ENOTDIR")
    return new PathRefusedError("not-a-file", `${path} is not a regular file`, { cause });
  if (code === "EACCES" || code === "EPERM")
    return new OutpostError(ErrorCode.Forbidden, `${path}: permission denied`, { cause });
  return new OutpostError(ErrorCode.Internal, `${path}: ${code ?? "file system error"}`, { cause });
}
