import { closeSync, openSync, readSync } from "node:fs";

const CHUNK = 64 * 1024;
/** Longest audit line accepted when reading; a longer one means the file is not an audit log. */
export const MAX_LINE_BYTES = 16 * 1024 * 1024;

/**
 * The last complete line of a file (without its "\n"), read backwards from the end so that opening a
 * large log costs one chunk. Returns `{ line: undefined }` for an empty file and `{ torn: true }`
 * when the file does not end with a newline (a write cut short).
 */
export function readLastLine(fd: number, size: number): { line: string | undefined; torn: boolean } {
  if (size === 0) return { line: undefined, torn: false };
  const last = Buffer.alloc(1);
  readSync(fd, last, 0, 1, size - 1);
  if (last[0] !== 0x0a) return { line: undefined, torn: true };
  const end = size - 1;
  let start = end;
  const chunks: Buffer[] = [];
  while (start > 0 && end - start < MAX_LINE_BYTES) {
    const len = Math.min(CHUNK, start);
    const buf = Buffer.alloc(len);
    readSync(fd, buf, 0, len, start - len);
    const nl = buf.lastIndexOf(0x0a);
    if (nl >= 0) {
      chunks.unshift(buf.subarray(nl + 1));
      start -= len - nl - 1;
      break;
    }
    chunks.unshift(buf);
    start -= len;
  }
  return { line: Buffer.concat(chunks).toString("utf8"), torn: false };
}

/**
 * Calls `onLine` for every line of a file, reading it in chunks so memory stays bounded by the
 * longest line. `complete` is false for a last line without a terminating newline. Stops early when
 * `onLine` returns false.
 */
export function forEachLine(path: string, onLine: (line: string, complete: boolean) => boolean): void {
  const fd = openSync(path, "r");
  try {
    const buf = Buffer.alloc(CHUNK);
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    for (;;) {
      const n = readSync(fd, buf, 0, CHUNK, null);
      if (n === 0) break;
      let from = 0;
      for (;;) {
        const nl = buf.indexOf(0x0a, from);
        if (nl < 0 || nl >= n) break;
        pending.push(buf.subarray(from, nl));
        const line = Buffer.concat(pending).toString("utf8");
        pending = [];
        pendingBytes = 0;
        if (!onLine(line, true)) return;
        from = nl + 1;
      }
      if (from < n) {
        pending.push(Buffer.from(buf.subarray(from, n)));
        pendingBytes += n - from;
        if (pendingBytes > MAX_LINE_BYTES) {
          onLine("", false);
          return;
        }
      }
    }
    if (pendingBytes > 0) onLine(Buffer.concat(pending).toString("utf8"), false);
  } finally {
    closeSync(fd);
  }
}
