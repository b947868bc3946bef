import { ErrorCode, isOutpostError, OutpostError } from "./errors.js";
import {
  DEFAULT_CHUNK_BYTES,
  DEFAULT_WINDOW_CHUNKS,
  FILE_CANCEL_RESET_CODE,
  FILE_KEY_LABEL,
  FILE_STREAM_TYPE,
  type FileSink,
  type FileSource,
  FileTransferError,
  MAX_CHUNK_BYTES,
  MAX_WINDOW_CHUNKS,
  type OpenerOptions,
  type OpenFileStream,
  type TransferHooks,
  type TransferResult,
} from "./file-transfer-types.js";
import type { ChunkCrypto } from "./chunk-crypto.js";
import { defaultChunkCrypto } from "./chunk-workers.js";
export { chunkAad } from "./file-chunks.js";
import { receiveChunks, remoteFailure, sendChunks } from "./file-chunks.js";
import { decodeFileOpen, encodeFileOpen, encodeFileRecord, FileRecordReader } from "./file-records.js";
import { type FileEntry, type FileFrame, FileOp, type FileOpen } from "./messages.js";
import { createKeyShare, deriveSessionKeys, type SessionKeys } from "./sealed.js";
import type { Stream } from "./stream.js";

/** Sends `source` to the acceptor, which stores it at `path`. Resolves once the acceptor committed it. */
export async function putFile(
  open: OpenFileStream,
  source: FileSource,
  options: OpenerOptions,
): Promise<TransferResult> {
  const opened = await openAndAccept(open, options, { op: FileOp.FILE_OP_PUT, size: source.size });
  const { stream, reader, accept, keys } = opened;
  try {
    const chunkBytes = accept.chunkBytes;
    return await sendChunks({
      stream,
      reader,
      keys,
      transferId: options.transferId,
      source,
      chunkBytes,
      windowChunks: windowOf(options.windowChunks),
      resumeChunk: accept.resumeChunk,
      ...(options.hooks && { hooks: options.hooks }),
      pace: pacer(options.maxBytesPerSecond),
      crypto: options.crypto ?? defaultChunkCrypto(),
    });
  } catch (err) {
    throw failStream(stream, err);
  }
}

/** Options of {@link getFile}. */
export interface GetOptions extends OpenerOptions {
  /** Source version seen by the attempt that staged the sink's bytes ("" when none). */
  stagedVersion?: string;
  /** Called with the accepted size and version before the first byte is staged; may throw to refuse. */
  onAccept?(info: { size: number; version: string }): Promise<void> | void;
}

/** Receives the acceptor's file at `path` into `sink` and commits it. */
export async function getFile(open: OpenFileStream, sink: FileSink, options: GetOptions): Promise<TransferResult> {
  const staged = options.stagedVersion ? await sink.staged() : 0;
  const opened = await openAndAccept(open, options, {
    op: FileOp.FILE_OP_GET,
    stagedBytes: staged,
    sourceVersion: options.stagedVersion ?? "",
  });
  const { stream, reader, accept, keys } = opened;
  try {
    await options.onAccept?.({ size: accept.size, version: accept.sourceVersion });
    return await receiveChunks({
      stream,
      reader,
      keys,
      transferId: options.transferId,
      sink,
      size: accept.size,
      chunkBytes: accept.chunkBytes,
      resumeChunk: accept.resumeChunk,
      ...(options.hooks && { hooks: options.hooks }),
      pace: pacer(options.maxBytesPerSecond),
      crypto: options.crypto ?? defaultChunkCrypto(),
    });
  } catch (err) {
    throw failStream(stream, err);
  }
}

/** Lists the directory at `path` of the acceptor. */
export async function listFiles(open: OpenFileStream, path: string, signal?: AbortSignal): Promise<FileEntry[]> {
  const stream = open({ type: FILE_STREAM_TYPE, header: encodeFileOpen({ op: FileOp.FILE_OP_LIST, path }) });
  const onAbort = () => stream.reset(0, "aborted");
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    const frame = await new FileRecordReader(stream).next();
    if (frame?.fail) throw remoteFailure(frame.fail);
    if (!frame?.listing) throw new OutpostError(ErrorCode.UnexpectedFrame, "expected a file listing");
    await stream.end().catch(() => undefined);
    return frame.listing.entries ?? [];
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
}

/** What the acceptor of a file stream serves. Each may throw a typed error: it is sent as FileFail. */
export interface FileStreamHandlers {
  /** A PUT: where to stage the file (size limits and free space are checked here). */
  put?(open: FileOpen & { size: number }): Promise<FileSink>;
  /** A GET: the file to send. */
  get?(open: FileOpen): Promise<FileSource>;
  list?(path: string): Promise<FileEntry[]>;
  /** Bandwidth cap of every attempt served, bytes/s. Default none. */
  maxBytesPerSecond?: number;
  /** Largest chunk the acceptor takes. Default {@link MAX_CHUNK_BYTES}. */
  maxChunkBytes?: number;
  hooks?: TransferHooks;
  /** Where chunks are sealed, opened and hashed. Default: the process's shared worker-thread pool. */
  crypto?: ChunkCrypto;
  /** Called once the attempt ends, with its result or error. */
  done?(open: FileOpen, outcome: { result?: TransferResult; error?: Error }): void;
}

/** Serves one "file" stream the peer opened. Never rejects. */
export async function serveFileStream(stream: Stream, handlers: FileStreamHandlers): Promise<void> {
  let open: FileOpen;
  try {
    open = decodeFileOpen(stream.header);
  } catch (err) {
    return void failStream(stream, err);
  }
  const reader = new FileRecordReader(stream);
  let sink: FileSink | undefined;
  try {
    if (open.op === FileOp.FILE_OP_LIST) {
      if (!handlers.list) throw new OutpostError(ErrorCode.NotImplemented, "listing is not served here");
      const entries = await handlers.list(open.path ?? "");
      await stream.write(encodeFileRecord({ listing: { entries } }));
      await stream.end();
      return;
    }
    const transferId = checkTransferId(open.transferId);
    const peerShare = open.keyShare ?? new Uint8Array(0);
    const chunkBytes = Math.min(chunkOf(open.chunkBytes), handlers.maxChunkBytes ?? MAX_CHUNK_BYTES);
    const own = createKeyShare();
    const keys = () =>
      deriveSessionKeys({
        label: FILE_KEY_LABEL,
        sessionId: transferId,
        own,
        role: "responder",
        initiatorPublic: peerShare,
        responderPublic: own.publicKey,
      });
    let result: TransferResult;
    if (open.op === FileOp.FILE_OP_PUT) {
      if (!handlers.put) throw new OutpostError(ErrorCode.NotImplemented, "receiving files is not served here");
      const size = open.size ?? 0;
      const sessionKeys = keys();
      sink = await handlers.put({ ...open, size });
      const resumeChunk = Math.floor((await sink.staged()) / chunkBytes);
      await stream.write(encodeFileRecord({ accept: { keyShare: own.publicKey, chunkBytes, resumeChunk } }));
      result = await receiveChunks({
        stream,
        reader,
        keys: sessionKeys,
        transferId,
        sink,
        size,
        chunkBytes,
        resumeChunk,
        ...(handlers.hooks && { hooks: handlers.hooks }),
        pace: pacer(handlers.maxBytesPerSecond),
        crypto: handlers.crypto ?? defaultChunkCrypto(),
      });
    } else if (open.op === FileOp.FILE_OP_GET) {
      if (!handlers.get) throw new OutpostError(ErrorCode.NotImplemented, "sending files is not served here");
      const sessionKeys = keys();
      const source = await handlers.get(open);
      try {
        const sameSource = open.sourceVersion !== "" && open.sourceVersion === source.version;
        const staged = sameSource ? Math.min(open.stagedBytes ?? 0, source.size) : 0;
        const resumeChunk = Math.floor(staged / chunkBytes);
        await stream.write(
          encodeFileRecord({
            accept: {
              keyShare: own.publicKey,
              chunkBytes,
              size: source.size,
              sourceVersion: source.version,
              resumeChunk,
            },
          }),
        );
        result = await sendChunks({
          stream,
          reader,
          keys: sessionKeys,
          transferId,
          source,
          chunkBytes,
          windowChunks: windowOf(open.windowChunks ?? undefined),
          resumeChunk,
          ...(handlers.hooks && { hooks: handlers.hooks }),
          pace: pacer(handlers.maxBytesPerSecond),
          crypto: handlers.crypto ?? defaultChunkCrypto(),
        });
      } finally {
        await source.close().catch(() => undefined);
      }
    } else {
      throw new OutpostError(ErrorCode.BadRequest, `unknown file operation ${String(open.op)}`);
    }
    handlers.done?.(open, { result });
  } catch (err) {
    const error = failStream(stream, err);
    if (sink) await (isRetryable(error) ? sink.release?.() : sink.discard())?.catch(() => undefined);
    handlers.done?.(open, { error });
  }
}

interface Opened {
  stream: Stream;
  reader: FileRecordReader;
  keys: SessionKeys;
  accept: { chunkBytes: number; resumeChunk: number; size: number; sourceVersion: string };
}

async function openAndAccept(open: OpenFileStream, options: OpenerOptions, init: Partial<FileOpen>): Promise<Opened> {
  const transferId = checkTransferId(options.transferId);
  const own = createKeyShare();
  const chunkBytes = chunkOf(options.chunkBytes);
  const windowChunks = windowOf(options.windowChunks);
  const header = encodeFileOpen({
    ...init,
    transferId,
    path: options.path,
    chunkBytes,
    windowChunks,
    keyShare: own.publicKey,
  });
  const stream = open({
    type: FILE_STREAM_TYPE,
    header,
    writeHighWaterBytes: Math.min(windowChunks * (chunkBytes + 64), 16 * 1024 * 1024),
  });
  const signal = options.signal;
  const onAbort = () => stream.reset(FILE_CANCEL_RESET_CODE, "transfer cancelled");
  if (signal?.aborted) onAbort();
  signal?.addEventListener("abort", onAbort, { once: true });
  void stream.closed().then(() => signal?.removeEventListener("abort", onAbort));
  const reader = new FileRecordReader(stream);
  let frame: FileFrame | undefined;
  try {
    frame = await reader.next();
  } catch (err) {
    throw failStream(stream, err);
  }
  if (frame?.fail) {
    stream.reset(0, "");
    throw remoteFailure(frame.fail);
  }
  const a = frame?.accept;
  if (!a) throw failStream(stream, new OutpostError(ErrorCode.UnexpectedFrame, "expected FileAccept"));
  const accepted = a.chunkBytes ?? 0;
  if (accepted <= 0 || accepted > chunkBytes)
    throw failStream(stream, new OutpostError(ErrorCode.BadRequest, `peer chose chunk size ${accepted}`));
  let keys: SessionKeys;
  try {
    keys = deriveSessionKeys({
      label: FILE_KEY_LABEL,
      sessionId: transferId,
      own,
      role: "initiator",
      initiatorPublic: own.publicKey,
      responderPublic: a.keyShare ?? new Uint8Array(0),
    });
  } catch (err) {
    throw failStream(stream, err);
  }
  return {
    stream,
    reader,
    keys,
    accept: {
      chunkBytes: accepted,
      resumeChunk: a.resumeChunk ?? 0,
      size: a.size ?? 0,
      sourceVersion: a.sourceVersion ?? "",
    },
  };
}

/** Whether a failure may be resumed by a new attempt. */
export function isRetryable(err: unknown): boolean {
  if (err instanceof FileTransferError) return err.retry;
  if (!isOutpostError(err)) return false;
  if ((err as { resetCode?: number }).resetCode === FILE_CANCEL_RESET_CODE) return false;
  return (
    err.code === ErrorCode.ConnectionClosed ||
    err.code === ErrorCode.StreamReset ||
    err.code === ErrorCode.Unavailable ||
    err.code === ErrorCode.Timeout
  );
}

/** Sends a FileFail for `err` (when the stream is still open) and resets the stream; returns the error. */
function failStream(stream: Stream, err: unknown): Error {
  const error = err instanceof Error ? err : new Error(String(err));
  const code = isOutpostError(error) ? error.code : ErrorCode.Internal;
  const message = isOutpostError(error) ? error.message : "internal error";
  try {
    stream.tryWrite(encodeFileRecord({ fail: { code, message, retry: isRetryable(error) } }));
    void stream.end().catch(() => undefined);
    // The reset follows after the fail record had its chance to leave.
    setTimeout(() => stream.reset(0, code), 1000).unref?.();
  } catch {
    stream.reset(0, code);
  }
  return error;
}

/** Paces to `rate` bytes/s from its first call: waits until `bytes` more fit. */
function pacer(rate: number | undefined): (bytes: number) => Promise<void> {
  if (!rate || rate <= 0) return async () => {};
  let start = 0;
  let total = 0;
  return async (bytes) => {
    const now = Date.now();
    if (start === 0) start = now;
    total += bytes;
    const due = start + (total / rate) * 1000;
    if (due > now) await new Promise((r) => setTimeout(r, due - now));
  };
}

function chunkOf(n: number | null | undefined): number {
  const v = n || DEFAULT_CHUNK_BYTES;
  if (!Number.isInteger(v) || v < 1024 || v > MAX_CHUNK_BYTES)
    throw new OutpostError(ErrorCode.BadRequest, `chunk size ${v} outside [1024, ${MAX_CHUNK_BYTES}]`);
  return v;
}

function windowOf(n: number | null | undefined): number {
  const v = n || DEFAULT_WINDOW_CHUNKS;
  if (!Number.isInteger(v) || v < 1 || v > MAX_WINDOW_CHUNKS)
    throw new OutpostError(ErrorCode.BadRequest, `window of ${v} chunks outside [1, ${MAX_WINDOW_CHUNKS}]`);
  return v;
}

function checkTransferId(id: string | null | undefined): string {
  if (!id || !/^[A-Za-z0-9_-]{1,64}$/.test(id)) throw new OutpostError(ErrorCode.BadRequest, "invalid transfer id");
  return id;
}
