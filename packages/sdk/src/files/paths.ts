import { PathRefusedError } from "./errors.js";

/** A `<vdir>/<relative path>` split and checked, before any file system access. */
export interface VdirPath {
  vdir: string;
  /** Path segments below the vdir root; empty for the root itself. */
  segments: string[];
}

/** Name of the staging directory kept inside each vdir root; never addressable by a path. */
export const STAGING_NAME = ".outpost-staging";

const MAX_PATH_CHARS = 4096;
const MAX_SEGMENT_CHARS = 255;
// Windows device names are refused on every platform: a file moved to a Windows host under such a
// name would address the device, and a path that is meant to be portable never needs one.
const DEVICE_NAME = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³]|conin\$|conout\$)(\..*)?$/i;

/**
 * Splits `path` into its vdir and segments, refusing with {@link PathRefusedError} everything that
 * could name something outside the vdir or something other than a plain file name: an empty path,
 * an absolute path, `.` or `..` segments, NUL bytes, backslashes, empty segments (`a//b`, a
 * trailing `/`), device names and the staging directory. `allowRoot` lets `"logs"` name the vdir
 * itself (for listing).
 */
export function parseVdirPath(path: string, allowRoot = false): VdirPath {
  if (typeof path !== "string" || path.length === 0) throw new PathRefusedError("empty", "empty path");
  if (path.length > MAX_PATH_CHARS) throw new PathRefusedError("empty-segment", `path longer than ${MAX_PATH_CHARS}`);
  if (path.includes("\0")) throw new PathRefusedError("nul", "path contains a NUL byte");
  if (path.includes("\\")) throw new PathRefusedError("backslash", "path contains a backslash");
  if (path.startsWith("/") || /^[a-zA-Z]:/.test(path))
    throw new PathRefusedError("absolute", `absolute path ${quote(path)}`);
  const parts = path.split("/");
  for (const part of parts) checkSegment(part, path);
  const [vdir, ...segments] = parts as [string, ...string[]];
  if (segments.length === 0 && !allowRoot)
    throw new PathRefusedError("empty-segment", `${quote(path)} names a virtual directory, not a file in it`);
  return { vdir, segments };
}

function checkSegment(part: string, path: string): void {
  if (part === "") throw new PathRefusedError("empty-segment", `empty segment in ${quote(path)}`);
  if (part === "." || part === "..") throw new PathRefusedError("parent", `${quote(part)} segment in ${quote(path)}`);
  if (part.length > MAX_SEGMENT_CHARS)
    throw new PathRefusedError("empty-segment", `segment longer than ${MAX_SEGMENT_CHARS} in ${quote(path)}`);
  if (DEVICE_NAME.test(part.replace(/[ .]+$/, "")))
    throw new PathRefusedError("device-name", `${quote(part)} is a device name`);
  if (part === STAGING_NAME) throw new PathRefusedError("reserved-name", `${quote(part)} is reserved`);
  // Control characters are never part of a legitimate file name and confuse terminals and logs.
  // eslint-disable-next-line no-control-regex
  if (/[\x01-\x1f\x7f]/.test(part)) throw new PathRefusedError("nul", `control character in ${quote(path)}`);
}

function quote(s: string): string {
  return JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}…` : s);
}
