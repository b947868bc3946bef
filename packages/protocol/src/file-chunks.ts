import { type ChunkCrypto, type ChunkCryptoSession, CRYPTO_IN_FLIGHT_CHUNKS } from "./chunk-crypto.js";
import { ErrorCode, isOutpostError, OutpostError } from "./errors.js";
import { encodeFileChunkRecord, encodeFileRecord, type FileRecordReader } from "./file-records.js";
import {
  type FileSink,
  type FileSource,
  FileTransferError,
  type TransferHooks,
  type TransferResult,
} from "./file-transfer-types.js";
import type { FileFrame } from "./messages.js";
import { open as openSealed, seal, type SessionKeys } from "./sealed.js";
import type { Stream } from "./stream.js";

/** The chunk loops of one attempt (docs/protocol.md, Files): the sender's and the receiver's. */

/** What both chunk loops share. */
interface ChunkContext {
  stream: Stream;
  reader: FileRecordReader;
  keys: SessionKeys;
  transferId: string;
  chunkBytes: number;
  resumeChunk: number;
  hooks?: TransferHooks;
  pace: (bytes: number) => Promise<void>;
  /** Where chunks are sealed, opened and hashed. */
  crypto: ChunkCrypto;
}

export interface SendContext extends ChunkContext {
  source: FileSource;
  windowChunks: number;
}

export interface ReceiveContext extends ChunkContext {
  sink: FileSink;
  size: number;
}

/** A request handed to the chunk session, in the order it was made. */
interface InFlight<T> {
  index: number;
  result: Promise<T>;
  /** Set once `result` settled. */
  done: boolean;
}

function inFlight<T>(index: number, result: Promise<T>): InFlight<T> {
  const entry: InFlight<T> = { index, result, done: false };
  result.then(
    () => (entry.done = true),
    () => (entry.done = true),
  );
  return entry;
}

/**
 * Reads, hashes and seals chunks from the resume point on and writes them in index order, with at
 * most `windowChunks` written and not acknowledged, and at most {@link CRYPTO_IN_FLIGHT_CHUNKS}
 * handed to the chunk session and not yet written; then the sealed checksums, then waits for the
 * receiver's commit.
 */
export async function sendChunks(ctx: SendContext): Promise<TransferResult> {
  const { stream, reader, keys, transferId, source, chunkBytes } = ctx;
  const size = source.size;
  const total = Math.ceil(size / chunkBytes);
  const resume = Math.min(ctx.resumeChunk, total);
  const session = ctx.crypto.session(keys.send);
  try {
    await hashPrefix(session, resume, (i) => source.read(i * chunkBytes, chunkLength(i, size, chunkBytes)));
    let acked = resume;
    let wake: (() => void) | undefined;
    let failure: Error | undefined;
    let rejectFailed!: (e: Error) => void;
    // Settles when the receiver fails the attempt, so a write blocked on credit does not hide why.
    const failed = new Promise<never>((_, reject) => (rejectFailed = reject));
    failed.catch(() => undefined);
    let commit: { md5: string; sha256: string } | undefined;
    let bytesOnWire = 0;
    const readerDone = (async () => {
      for (;;) {
        const frame = await reader.next();
        if (!frame) throw new FileTransferError(ErrorCode.ConnectionClosed, "receiver ended the stream", true);
        if (frame.ack) {
          const chunks = frame.ack.chunks ?? 0;
          if (chunks < acked || chunks > total) throw new OutpostError(ErrorCode.BadRequest, `ack of ${chunks} chunks`);
          acked = chunks;
          ctx.hooks?.onProgress?.({ transferId, bytesDone: Math.min(size, acked * chunkBytes), size, bytesOnWire });
        } else if (frame.commit) {
          commit = { md5: hex(frame.commit.md5), sha256: hex(frame.commit.sha256) };
          return;
        } else if (frame.fail) {
          throw remoteFailure(frame.fail);
        } else {
          throw new OutpostError(ErrorCode.UnexpectedFrame, `unexpected ${frame.body} from the receiver`);
        }
        wake?.();
      }
    })().catch((err: Error) => {
      failure = err;
      rejectFailed(err);
      wake?.();
    });
    const check = () => {
      if (failure) throw failure;
    };
    const queue: InFlight<Uint8Array[]>[] = [];
    let next = resume;
    let written = resume;
    while (written < total) {
      check();
      if (next < total && queue.length < CRYPTO_IN_FLIGHT_CHUNKS && next - acked < ctx.windowChunks) {
        const data = await source.read(next * chunkBytes, chunkLength(next, size, chunkBytes));
        await ctx.pace(data.byteLength);
        check();
        const sealed = session.seal(next, chunkAad(transferId, next, total), data);
        sealed.catch(() => undefined);
        queue.push(inFlight(next, sealed));
        next++;
        continue;
      }
      const head = queue.shift();
      if (!head) {
        await new Promise<void>((r) => (wake = r));
        wake = undefined;
        continue;
      }
      const sealed = await head.result;
      ctx.hooks?.onSealedChunk?.(head.index, sealed[0]!);
      await raceFailure(writeAll(stream, encodeFileChunkRecord(head.index, sealed)), failed, () => failure);
      bytesOnWire += chunkLength(head.index, size, chunkBytes);
      written++;
    }
    const { md5: md5Bytes, sha256: shaBytes } = await session.digest();
    const end = seal(keys.send, total, chunkAad(transferId, total, total), Buffer.concat([md5Bytes, shaBytes]));
    await raceFailure(stream.write(encodeFileRecord({ end: { sealed: end } })), failed, () => failure);
    await readerDone;
    check();
    if (!commit) throw new OutpostError(ErrorCode.Internal, "no commit");
    const result = { size, md5: md5Bytes.toString("hex"), sha256: shaBytes.toString("hex") };
    if (commit.md5 !== result.md5 || commit.sha256 !== result.sha256)
      throw new FileTransferError(ErrorCode.Integrity, "the receiver committed a file with other checksums", false);
    await stream.end().catch(() => undefined);
    return { ...result, resumedFromChunk: resume, chunkBytes, bytesOnWire };
  } finally {
    session.close();
  }
}

/**
 * Receives chunks in index order, opens and hashes them through the chunk session (at most
 * {@link CRYPTO_IN_FLIGHT_CHUNKS} at a time; no more records are read while that many are out),
 * stages each verified chunk in order and acknowledges it; checks the sealed whole-file checksums
 * and commits the sink.
 */
export async function receiveChunks(ctx: ReceiveContext): Promise<TransferResult> {
  const { stream, reader, keys, transferId, sink, size, chunkBytes } = ctx;
  const total = Math.ceil(size / chunkBytes);
  const resume = Math.min(ctx.resumeChunk, total);
  const session = ctx.crypto.session(keys.receive);
  try {
    await sink.truncate(resume * chunkBytes);
    await hashPrefix(session, resume, (i) => sink.read(i * chunkBytes, chunkLength(i, size, chunkBytes)));
    let next = resume;
    let written = resume;
    let bytesOnWire = 0;
    const queue: InFlight<Uint8Array>[] = [];
    const stage = async () => {
      const { index, result } = queue.shift()!;
      let data: Uint8Array;
      try {
        data = await result;
      } catch (cause) {
        if (!isOutpostError(cause) || cause.code !== ErrorCode.Integrity) throw cause;
        // A changed chunk: what was verified before it stays staged and a new attempt re-sends it.
        throw new FileTransferError(ErrorCode.Integrity, `chunk ${index} failed authentication`, true, { cause });
      }
      if (data.byteLength !== chunkLength(index, size, chunkBytes))
        throw new FileTransferError(ErrorCode.Integrity, `chunk ${index} has ${data.byteLength} bytes`, false);
      await sink.write(index * chunkBytes, data);
      written++;
      bytesOnWire += data.byteLength;
      await ctx.pace(data.byteLength);
      stream.tryWrite(encodeFileRecord({ ack: { chunks: written } }));
      ctx.hooks?.onProgress?.({ transferId, bytesDone: Math.min(size, written * chunkBytes), size, bytesOnWire });
    };
    let pending: Promise<FileFrame | undefined> | undefined;
    for (;;) {
      while (queue.length > 0 && (queue.length >= CRYPTO_IN_FLIGHT_CHUNKS || queue[0]!.done)) await stage();
      if (!pending) {
        pending = reader.next();
        pending.catch(() => undefined);
      }
      // Stage the oldest chunk as soon as it is opened, even while no record arrives.
      if (
        queue.length > 0 &&
        (await Promise.race([
          pending.then(() => false),
          queue[0]!.result.then(
            () => true,
            () => true,
          ),
        ]))
      )
        continue;
      const frame = await pending;
      pending = undefined;
      if (!frame)
        throw new FileTransferError(ErrorCode.ConnectionClosed, "sender ended the stream before the file", true);
      if (frame.chunk) {
        const index = frame.chunk.index ?? 0;
        if (index !== next)
          throw new FileTransferError(ErrorCode.Integrity, `chunk ${index} arrived where ${next} was due`, true);
        if (index >= total)
          throw new FileTransferError(ErrorCode.Integrity, `chunk ${index} beyond the file's ${total}`, false);
        const sealed = frame.chunk.sealed ?? new Uint8Array(0);
        const opened = session.open(index, chunkAad(transferId, index, total), sealed, reader.lastOwnsBuffer);
        opened.catch(() => undefined);
        queue.push(inFlight(index, opened));
        next++;
      } else if (frame.end) {
        if (next !== total)
          throw new FileTransferError(ErrorCode.Integrity, `file ended after ${next} of ${total} chunks`, true);
        while (queue.length > 0) await stage();
        const sums = openSealed(
          keys.receive,
          total,
          chunkAad(transferId, total, total),
          frame.end.sealed ?? new Uint8Array(0),
        );
        const { md5: md5Bytes, sha256: shaBytes } = await session.digest();
        if (sums.byteLength !== 48 || !sums.subarray(0, 16).equals(md5Bytes) || !sums.subarray(16).equals(shaBytes)) {
          await sink.discard().catch(() => undefined);
          throw new FileTransferError(ErrorCode.Integrity, "whole-file MD5/SHA-256 differ from the sender's", false);
        }
        await sink.commit();
        await stream.write(encodeFileRecord({ commit: { md5: md5Bytes, sha256: shaBytes } }));
        await stream.end().catch(() => undefined);
        return {
          size,
          md5: md5Bytes.toString("hex"),
          sha256: shaBytes.toString("hex"),
          resumedFromChunk: resume,
          chunkBytes,
          bytesOnWire,
        };
      } else if (frame.fail) {
        throw remoteFailure(frame.fail);
      } else {
        throw new OutpostError(ErrorCode.UnexpectedFrame, `unexpected ${frame.body} from the sender`);
      }
    }
  } finally {
    session.close();
  }
}

/** Hashes the first `chunks` chunks (the prefix a resume keeps), a bounded number at a time. */
async function hashPrefix(
  session: ChunkCryptoSession,
  chunks: number,
  read: (index: number) => Promise<Uint8Array>,
): Promise<void> {
  const queue: Promise<void>[] = [];
  for (let i = 0; i < chunks; i++) {
    if (queue.length >= CRYPTO_IN_FLIGHT_CHUNKS) await queue.shift();
    // A copy: the sink's or source's buffer stays with it.
    const hashed = session.hash(new Uint8Array(await read(i)));
    hashed.catch(() => undefined);
    queue.push(hashed);
  }
  for (const q of queue) await q;
}

/** Associated data of chunk `index`: transfer id, index and total, so a chunk cannot be moved. */
export function chunkAad(transferId: string, index: number, total: number): Uint8Array {
  const id = Buffer.from(transferId, "utf8");
  const out = Buffer.alloc(id.length + 16);
  id.copy(out, 0);
  out.writeBigUInt64BE(BigInt(index), id.length);
  out.writeBigUInt64BE(BigInt(total), id.length + 8);
  return out;
}

/** The typed error of a FileFail record from the peer. */
export function remoteFailure(fail: {
  code?: string | null;
  message?: string | null;
  retry?: boolean | null;
}): FileTransferError {
  const code = (fail.code?.startsWith("OUTPOST_") ? fail.code : ErrorCode.Internal) as ErrorCode;
  return new FileTransferError(code, fail.message || code, fail.retry === true);
}

/** Queues `pieces` in order on `stream` and waits for its drain signal, as one write() of them joined. */
function writeAll(stream: Stream, pieces: readonly Uint8Array[]): Promise<void> {
  try {
    for (const piece of pieces) stream.tryWrite(piece);
  } catch (err) {
    return Promise.reject(err);
  }
  return stream.drained();
}

/** Waits for a write, or for the receiver's failure; the receiver's reason wins over a reset it caused. */
async function raceFailure(p: Promise<void>, failed: Promise<never>, failure: () => Error | undefined): Promise<void> {
  p.catch(() => undefined);
  try {
    await Promise.race([p, failed]);
  } catch (err) {
    throw failure() ?? err;
  }
  const f = failure();
  if (f) throw f;
}

function chunkLength(index: number, size: number, chunkBytes: number): number {
  return Math.min(chunkBytes, size - index * chunkBytes);
}

function hex(b: Uint8Array | null | undefined): string {
  return Buffer.from(b ?? new Uint8Array(0)).toString("hex");
}
