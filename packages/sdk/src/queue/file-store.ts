import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { ErrorCode, OutpostError } from "@outpost/protocol";
import { newQueueEpoch } from "./epoch.js";
import { decodeRecord, encodeRecord } from "./record-codec.js";
import type { QueueItem, QueueReadLimits, QueueState, QueueStore } from "./types.js";

/**
 * When {@link FileQueueStore} forces data to the disk:
 * - "always": every append is fdatasync'ed before it resolves (and the directory when a segment
 *   file is created). Survives a process crash and a power loss.
 * - "interval": an append resolves once written to the operating system; fsync runs every
 *   `fsyncIntervalMs`. Survives a process crash (SIGKILL); a power loss or kernel crash can lose
 *   the appends of the last interval, and with them seqs the server may have seen.
 * - "never": the operating system writes back when it likes. Survives a process crash only.
 */
export type FileQueueFsync = "always" | "interval" | "never";

/** Options of {@link FileQueueStore}. */
export interface FileQueueStoreOptions {
  /** Directory of the store (created when missing). One store per directory and process. */
  dir: string;
  /** Most bytes of segment files; an append beyond it rejects with OUTPOST_QUEUE_OVERFLOW. Default 256 MiB. */
  maxBytes?: number;
  /** A new segment file is started when the current one would grow past this. Default 4 MiB. */
  segmentBytes?: number;
  /** Fsync policy. Default "always". */
  fsync?: FileQueueFsync;
  /** Period of the "interval" policy. Default 1_000 ms. */
  fsyncIntervalMs?: number;
  /** Largest record accepted on reading; a longer length field is corruption. Default 16 MiB. */
  maxRecordBytes?: number;
  /** Told of every torn tail dropped and corrupt record found at open, and of every overflow. */
  onProblem?: (problem: FileQueueProblem) => void;
}

/** Something the store detected and dealt with. */
export type FileQueueProblem =
  | { type: "torn-tail"; segment: string; offset: number; droppedBytes: number }
  | { type: "corrupt"; segment: string; offset: number; droppedBytes: number }
  | { type: "overflow"; bytes: number; maxBytes: number; refusedItems: number };

/** Counters of {@link FileQueueStore.stats}. */
export interface FileQueueStats {
  /** Bytes of segment files (acknowledged records stay until their whole segment is acknowledged). */
  bytes: number;
  maxBytes: number;
  segments: number;
  /** Records in the segment files, acknowledged ones included until their segment is removed. */
  records: number;
  lastSeq: number;
  /** Appends refused because the store was full. */
  overflows: number;
  /** Items those appends carried. */
  overflowItems: number;
  tornTails: number;
  corruptRecords: number;
}

interface Segment {
  name: string;
  path: string;
  /** Bytes of valid records. */
  end: number;
  firstSeq: number;
  lastSeq: number;
  count: number;
}

const SEGMENT_RE = /^(\d{16})\.seg$/;

/**
 * A durable {@link QueueStore} in plain files: an `epoch` file and append-only segment files of
 * records `[length u32][crc32 u32][JSON]`, in seq order. An append is all-or-nothing (a failed
 * write is cut off again); at open, a record that runs past the end of the last segment (a torn
 * write) or fails its checksum is dropped with everything after it in that segment and reported,
 * never misread. Items are removed only by `truncate` (after the server's acknowledgement), a
 * segment file once all its records are truncated. Acknowledged seqs are remembered in an `acked`
 * file so they are not handed out again after a restart (if that write is lost, they are sent
 * again and the server recognises them).
 */
export class FileQueueStore implements QueueStore {
  readonly dir: string;
  readonly maxBytes: number;
  readonly segmentBytes: number;
  readonly fsync: FileQueueFsync;
  private readonly fsyncIntervalMs: number;
  private readonly maxRecordBytes: number;
  private readonly onProblem: (problem: FileQueueProblem) => void;
  private epoch = 0;
  private lastSeq = 0;
  private acked = 0;
  private segments: Segment[] = [];
  private current: { seg: Segment; fh: FileHandle } | undefined;
  private dirty = false;
  private timer: ReturnType<typeof setInterval> | undefined;
  private cursor: { seq: number; seg: Segment; offset: number } | undefined;
  private counters = { overflows: 0, overflowItems: 0, tornTails: 0, corruptRecords: 0 };
  private opened = false;

  constructor(options: FileQueueStoreOptions) {
    this.dir = options.dir;
    this.maxBytes = options.maxBytes ?? 256 * 1024 * 1024;
    this.segmentBytes = options.segmentBytes ?? 4 * 1024 * 1024;
    this.fsync = options.fsync ?? "always";
    this.fsyncIntervalMs = options.fsyncIntervalMs ?? 1_000;
    this.maxRecordBytes = options.maxRecordBytes ?? 16 * 1024 * 1024;
    this.onProblem = options.onProblem ?? (() => {});
    for (const [k, v] of Object.entries({
      maxBytes: this.maxBytes,
      segmentBytes: this.segmentBytes,
      fsyncIntervalMs: this.fsyncIntervalMs,
      maxRecordBytes: this.maxRecordBytes,
    })) {
      if (!Number.isSafeInteger(v) || v < 1)
        throw new OutpostError(ErrorCode.InvalidConfig, `${k} must be a positive integer`);
    }
    if (!["always", "interval", "never"].includes(this.fsync)) {
      throw new OutpostError(ErrorCode.InvalidConfig, `fsync must be "always", "interval" or "never"`);
    }
  }

  async open(): Promise<QueueState> {
    if (this.opened) throw new OutpostError(ErrorCode.Internal, "queue store opened twice");
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const names = (await readdir(this.dir)).filter((n) => SEGMENT_RE.test(n)).sort();
    this.epoch = await this.readOrCreateEpoch(names.length > 0);
    this.acked = await this.readAcked();
    this.segments = [];
    for (let i = 0; i < names.length; i++) {
      const seg = await this.scan(names[i]!, i === names.length - 1);
      if (i < names.length - 1 && (seg.count === 0 || seg.lastSeq <= this.acked)) {
        await rm(seg.path, { force: true });
        continue;
      }
      this.segments.push(seg);
    }
    const last = this.segments[this.segments.length - 1];
    this.lastSeq = Math.max(this.acked, last ? last.lastSeq : 0, ...this.segments.map((s) => s.lastSeq));
    if (last) this.current = { seg: last, fh: await open(last.path, "r+") };
    if (this.fsync === "interval") {
      this.timer = setInterval(() => void this.sync().catch(() => {}), this.fsyncIntervalMs);
      this.timer.unref?.();
    }
    this.opened = true;
    return { epoch: this.epoch, lastSeq: this.lastSeq };
  }

  async append(items: readonly QueueItem[]): Promise<void> {
    if (!this.opened) throw new OutpostError(ErrorCode.Internal, "queue store is not open");
    if (items.length === 0) return;
    let prev = this.lastSeq;
    for (const item of items) {
      if (!(item.seq > prev)) throw new RangeError(`append of seq ${item.seq} after ${prev}`);
      prev = item.seq;
    }
    const buf = Buffer.concat(items.map(encodeRecord));
    const used = this.bytes();
    if (used + buf.length > this.maxBytes) {
      this.counters.overflows += 1;
      this.counters.overflowItems += items.length;
      this.onProblem({ type: "overflow", bytes: used, maxBytes: this.maxBytes, refusedItems: items.length });
      throw new OutpostError(
        ErrorCode.QueueOverflow,
        `durable queue is full: ${used} of ${this.maxBytes} bytes used, ${buf.length} more refused`,
      );
    }
    let created = false;
    if (!this.current || (this.current.seg.end > 0 && this.current.seg.end + buf.length > this.segmentBytes)) {
      await this.rotate();
      created = true;
    }
    const { seg, fh } = this.current!;
    try {
      let off = 0;
      while (off < buf.length) {
        const { bytesWritten } = await fh.write(buf, off, buf.length - off, seg.end + off);
        off += bytesWritten;
      }
      if (this.fsync === "always") {
        await fh.datasync();
        if (created) await syncDir(this.dir);
      } else this.dirty = true;
    } catch (err) {
      // All or nothing: cut the partial write so the next append and the next open see a clean tail.
      await fh.truncate(seg.end).catch(() => {});
      throw err;
    }
    if (seg.count === 0) seg.firstSeq = items[0]!.seq;
    seg.end += buf.length;
    seg.count += items.length;
    seg.lastSeq = prev;
    this.lastSeq = prev;
  }

  async read(afterSeq: number, limits: QueueReadLimits): Promise<QueueItem[]> {
    const out: QueueItem[] = [];
    const after = Math.max(afterSeq, this.acked);
    let pos =
      this.cursor && this.cursor.seq === after && this.segments.includes(this.cursor.seg) ? this.cursor : undefined;
    if (!pos) {
      const seg = this.segments.find((s) => s.count > 0 && s.lastSeq > after);
      if (!seg) return out;
      pos = { seq: after, seg, offset: 0 };
    }
    let { seg, offset } = pos;
    let bytes = 0;
    let lastSeq = after;
    while (out.length < limits.maxItems) {
      if (offset >= seg.end) {
        const next = this.segments[this.segments.indexOf(seg) + 1];
        if (!next) break;
        seg = next;
        offset = 0;
        continue;
      }
      const want = Math.min(seg.end - offset, Math.max(64 * 1024, Math.min(limits.maxBytes, 4 * 1024 * 1024)));
      const block = await readAt(seg.path, offset, want);
      let at = 0;
      let full = false;
      while (at < block.length) {
        const r = decodeRecord(block, at, this.maxRecordBytes);
        if (r === "torn" && at === 0) {
          const len = block.length >= 4 ? block.readUInt32LE(0) : 0;
          const whole = await readAt(seg.path, offset, 8 + len);
          const again = decodeRecord(whole, 0, this.maxRecordBytes);
          if (typeof again === "string")
            throw new OutpostError(ErrorCode.Internal, `queue segment ${seg.name} unreadable at ${offset}`);
          at = again.bytes;
          if (again.item.seq > lastSeq) {
            bytes += again.bytes;
            out.push(again.item);
            lastSeq = again.item.seq;
          }
          break;
        }
        if (r === "torn") break;
        if (r === "corrupt")
          throw new OutpostError(ErrorCode.Internal, `queue segment ${seg.name} changed on disk at ${offset + at}`);
        if (r.item.seq > lastSeq) {
          if (out.length > 0 && (bytes + r.bytes > limits.maxBytes || out.length >= limits.maxItems)) {
            full = true;
            break;
          }
          bytes += r.bytes;
          out.push(r.item);
          lastSeq = r.item.seq;
        }
        at += r.bytes;
      }
      offset += at;
      if (full) break;
    }
    this.cursor = { seq: lastSeq, seg, offset };
    return out;
  }

  async truncate(uptoSeq: number): Promise<void> {
    if (uptoSeq <= this.acked) return;
    this.acked = Math.min(uptoSeq, this.lastSeq);
    const tmp = join(this.dir, "acked.tmp");
    await writeFile(tmp, `${JSON.stringify({ upto: this.acked })}\n`, { mode: 0o600 });
    await rename(tmp, join(this.dir, "acked"));
    const keep: Segment[] = [];
    for (const seg of this.segments) {
      if (seg !== this.current?.seg && seg.lastSeq <= this.acked) await rm(seg.path, { force: true });
      else keep.push(seg);
    }
    this.segments = keep;
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.fsync !== "never") await this.sync();
    await this.current?.fh.close();
    this.current = undefined;
    this.opened = false;
  }

  /** Sizes and counters, for status and metrics. */
  stats(): FileQueueStats {
    let records = 0;
    for (const s of this.segments) records += s.count;
    return {
      bytes: this.bytes(),
      maxBytes: this.maxBytes,
      segments: this.segments.length,
      records,
      lastSeq: this.lastSeq,
      ...this.counters,
    };
  }

  private bytes(): number {
    let b = 0;
    for (const s of this.segments) b += s.end;
    return b;
  }

  private async sync(): Promise<void> {
    if (!this.dirty || !this.current) return;
    this.dirty = false;
    await this.current.fh.datasync();
    await syncDir(this.dir);
  }

  private async rotate(): Promise<void> {
    const prev = this.current;
    const last = this.segments[this.segments.length - 1];
    const n = last ? Number(SEGMENT_RE.exec(last.name)![1]) + 1 : 1;
    const name = `${String(n).padStart(16, "0")}.seg`;
    const path = join(this.dir, name);
    const fh = await open(path, "wx+", 0o600);
    if (prev) {
      if (this.fsync !== "never") await prev.fh.datasync();
      await prev.fh.close();
    }
    const seg: Segment = { name, path, end: 0, firstSeq: 0, lastSeq: 0, count: 0 };
    this.segments.push(seg);
    this.current = { seg, fh };
  }

  private async readOrCreateEpoch(hasSegments: boolean): Promise<number> {
    const file = join(this.dir, "epoch");
    try {
      const v = JSON.parse(await readFile(file, "utf8")) as { epoch?: unknown };
      if (typeof v.epoch === "number" && Number.isSafeInteger(v.epoch) && v.epoch >= 1) return v.epoch;
      throw new Error("no epoch");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") {
        throw new OutpostError(ErrorCode.InvalidConfig, `queue store ${file} is unreadable`, { cause: err });
      }
    }
    if (hasSegments) {
      throw new OutpostError(ErrorCode.InvalidConfig, `queue store ${this.dir} has segments but no epoch file`);
    }
    const epoch = newQueueEpoch();
    const tmp = `${file}.tmp`;
    const fh = await open(tmp, "w", 0o600);
    try {
      await fh.writeFile(`${JSON.stringify({ version: 1, epoch })}\n`);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
    await syncDir(this.dir);
    return epoch;
  }

  private async readAcked(): Promise<number> {
    try {
      const v = JSON.parse(await readFile(join(this.dir, "acked"), "utf8")) as { upto?: unknown };
      return typeof v.upto === "number" && Number.isSafeInteger(v.upto) && v.upto >= 0 ? v.upto : 0;
    } catch {
      return 0;
    }
  }

  /** Reads a segment whole, keeps its valid prefix, and cuts a bad tail of the last segment off the file. */
  private async scan(name: string, isLast: boolean): Promise<Segment> {
    const path = join(this.dir, name);
    const buf = await readFile(path);
    const seg: Segment = { name, path, end: 0, firstSeq: 0, lastSeq: 0, count: 0 };
    let off = 0;
    let problem: "torn" | "corrupt" | undefined;
    while (off < buf.length) {
      const r = decodeRecord(buf, off, this.maxRecordBytes);
      if (typeof r === "string" || r.item.seq <= seg.lastSeq) {
        problem = typeof r === "string" ? r : "corrupt";
        break;
      }
      if (seg.count === 0) seg.firstSeq = r.item.seq;
      seg.lastSeq = r.item.seq;
      seg.count += 1;
      off += r.bytes;
    }
    seg.end = off;
    if (problem) {
      const type = problem === "torn" && isLast ? "torn-tail" : "corrupt";
      if (type === "torn-tail") this.counters.tornTails += 1;
      else this.counters.corruptRecords += 1;
      this.onProblem({ type, segment: name, offset: off, droppedBytes: buf.length - off });
      if (isLast) {
        const fh = await open(path, "r+");
        try {
          await fh.truncate(off);
          await fh.datasync();
        } finally {
          await fh.close();
        }
      }
    }
    return seg;
  }
}

async function readAt(path: string, offset: number, length: number): Promise<Buffer> {
  const fh = await open(path, "r");
  try {
    const buf = Buffer.allocUnsafe(length);
    const { bytesRead } = await fh.read(buf, 0, length, offset);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Whether `dir` holds a store (an epoch file). */
export async function hasFileQueueStore(dir: string): Promise<boolean> {
  try {
    return (await stat(join(dir, "epoch"))).isFile();
  } catch {
    return false;
  }
}
