import { ErrorCode, OutpostError } from "@outpost/protocol";

/** Why a path was refused (see {@link PathRefusedError}). */
export type PathRefusal =
  | "empty"
  | "absolute"
  | "parent"
  | "nul"
  | "backslash"
  | "empty-segment"
  | "device-name"
  | "reserved-name"
  | "unknown-vdir"
  | "outside"
  | "not-a-file"
  | "not-a-directory";

/** OUTPOST_PATH_REFUSED: a path that is not inside one of the virtual directories, and why. */
export class PathRefusedError extends OutpostError {
  constructor(
    readonly reason: PathRefusal,
    message: string,
    options?: ErrorOptions,
  ) {
    super(ErrorCode.PathRefused, message, options);
  }
}

/** OUTPOST_FILE_TOO_LARGE: the file exceeds `maxFileBytes`. */
export class FileTooLargeError extends OutpostError {
  constructor(
    readonly size: number,
    readonly maxFileBytes: number,
  ) {
    super(ErrorCode.FileTooLarge, `file of ${size} bytes exceeds the limit of ${maxFileBytes} bytes`);
  }
}

/** OUTPOST_INSUFFICIENT_SPACE: the target file system cannot hold the file. */
export class InsufficientSpaceError extends OutpostError {
  constructor(
    readonly needed: number,
    readonly available: number,
  ) {
    super(ErrorCode.InsufficientSpace, `file needs ${needed} bytes, ${available} bytes are free`);
  }
}
