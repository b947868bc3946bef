import type { ChunkCrypto } from "./chunk-crypto.js";
import { type ErrorCode, OutpostError } from "./errors.js";
import type { Stream } from "./stream.js";
import type { OpenStreamOptions } from "./stream-mux.js";

/** The vocabulary of file transfer (docs/protocol.md, Files): constants, the source and sink a transfer moves bytes between, its options, progress and result. */

/** `StreamOpen.type` of file streams. */
export const FILE_STREAM_TYPE = "file";
/** HKDF label of file transfer keys (docs/security.md, End-to-end keys). */
export const FILE_KEY_LABEL = "outpost-file-v1";
/** Default and largest chunk plaintext. */
export const DEFAULT_CHUNK_BYTES = 256 * 1024;
export const MAX_CHUNK_BYTES = 1024 * 1024;
/** Default chunks in flight (sent, not yet acknowledged). */
export const DEFAULT_WINDOW_CHUNKS = 16;
/** Largest window a peer may ask for. */
export const MAX_WINDOW_CHUNKS = 256;
/** `StreamReset.code` of a cancelled transfer: the acceptor discards what it staged. */
export const FILE_CANCEL_RESET_CODE = 256;

/** A file being sent: random access by offset. */
export interface FileSource {
  readonly size: number;
  /** Changes when the file changes (e.g. size and mtime), so a resume against another file restarts. */
  readonly version: string;
  /**
   * Exactly `length` bytes at `offset`; rejects when the file is shorter now. The bytes are handed
   * over to the transfer: a buffer the returned view spans whole may be transferred to a worker thread.
   */
  read(offset: number, length: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

/**
 * Where a received file is staged until committed. Failure: every method rejects on an I/O error;
 * the transfer then fails and `discard()` is called (unless it may resume).
 */
export interface FileSink {
  /** Bytes staged by an earlier attempt of this transfer (0 for a new one). */
  staged(): Promise<number>;
  /** Staged bytes, to re-hash the prefix a resume keeps. */
  read(offset: number, length: number): Promise<Uint8Array>;
  /** Cuts the staged data to `length` bytes. */
  truncate(length: number): Promise<void>;
  /** Writes verified bytes at `offset` (sequential). */
  write(offset: number, data: Uint8Array): Promise<void>;
  /** Makes the staged file durable (fsync) and moves it to its target atomically. */
  commit(): Promise<void>;
  /** Removes the staged data; nothing is left at the target. */
  discard(): Promise<void>;
  /** Closes what the sink holds open, keeping the staged data for a resume. */
  release?(): Promise<void>;
}

/** A failed attempt: `retry` says whether a new attempt may resume it. */
export class FileTransferError extends OutpostError {
  constructor(
    code: ErrorCode,
    message: string,
    readonly retry: boolean,
    options?: ErrorOptions,
  ) {
    super(code, message, options);
  }
}

/** Progress of one attempt. */
export interface TransferProgress {
  transferId: string;
  /** Bytes verified at the receiver (acknowledged, for a sender). */
  bytesDone: number;
  size: number;
  /** Chunk payload bytes this side sent or received in this attempt. */
  bytesOnWire: number;
}

/** Test and measurement hooks of one attempt. */
export interface TransferHooks {
  onProgress?(progress: TransferProgress): void;
  /**
   * Sender only: sees (and may change in place) each sealed chunk's ciphertext, without its 16-byte
   * tag, before it is written to the stream.
   */
  onSealedChunk?(index: number, sealed: Uint8Array): void;
}

/** What a completed attempt reports. */
export interface TransferResult {
  size: number;
  md5: string;
  sha256: string;
  /** Chunk index the attempt started at (0 unless resumed). */
  resumedFromChunk: number;
  chunkBytes: number;
  bytesOnWire: number;
}

/** What the opener of a file stream needs: its connection's `openStream`. */
export type OpenFileStream = (options: OpenStreamOptions) => Stream;

/** Options of {@link putFile} and {@link getFile}: the opener's side. */
export interface OpenerOptions {
  transferId: string;
  /** Path at the acceptor. */
  path: string;
  chunkBytes?: number;
  windowChunks?: number;
  hooks?: TransferHooks;
  signal?: AbortSignal;
  /** Bandwidth cap of this attempt in bytes/s (a sender paces its chunks, a receiver its acks). Default none. */
  maxBytesPerSecond?: number;
  /** Where chunks are sealed, opened and hashed. Default: the process's shared worker-thread pool. */
  crypto?: ChunkCrypto;
}
