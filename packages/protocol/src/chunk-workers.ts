import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import type { ChunkCrypto, ChunkCryptoSession } from "./chunk-crypto.js";
import { CHUNK_WORKER_SOURCE } from "./chunk-worker-source.js";
import { ErrorCode, OutpostError } from "./errors.js";
import { FileTransferError } from "./file-transfer-types.js";

/** Options of a {@link ChunkWorkerPool}. */
export interface ChunkWorkerPoolOptions {
  /** Worker threads at most. Default: one less than the available cores, at least 1, at most 4. */
  size?: number;
}

interface Reply {
  id: number;
  ct?: Uint8Array;
  tag?: Uint8Array;
  data?: Uint8Array;
  md5?: Uint8Array;
  sha256?: Uint8Array;
  integrity?: string;
  error?: string;
}

interface Pending {
  resolve(reply: Reply): void;
  reject(err: Error): void;
}

/** One worker thread and the requests it has not answered yet. */
class ChunkWorker {
  readonly pending = new Map<number, Pending>();
  sessions = 0;
  stopped: Error | undefined;
  private readonly worker: Worker;

  constructor(private readonly onStop: (w: ChunkWorker) => void) {
    this.worker = new Worker(CHUNK_WORKER_SOURCE, { eval: true });
    this.worker.unref();
    this.worker.on("message", (reply: Reply) => {
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.pending.delete(reply.id);
      if (this.pending.size === 0) this.worker.unref();
      p.resolve(reply);
    });
    this.worker.on("error", (err) => this.stop(err));
    this.worker.on("exit", (code) => this.stop(new Error(`chunk worker exited with code ${code}`)));
  }

  request(id: number, message: object, transfer: ArrayBuffer[]): Promise<Reply> {
    if (this.stopped) return Promise.reject(this.stopped);
    return new Promise<Reply>((resolve, reject) => {
      if (this.pending.size === 0) this.worker.ref();
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, ...message }, transfer);
    });
  }

  post(message: object): void {
    if (!this.stopped) this.worker.postMessage(message);
  }

  terminate(): Promise<number> {
    return this.worker.terminate();
  }

  private stop(cause: Error): void {
    if (this.stopped) return;
    this.stopped = new FileTransferError(ErrorCode.Internal, "the chunk worker thread stopped", false, { cause });
    for (const p of this.pending.values()) p.reject(this.stopped);
    this.pending.clear();
    this.onStop(this);
  }
}

/**
 * A {@link ChunkCrypto} on worker threads: AES-256-GCM and MD5/SHA-256 of file chunks run off the
 * event loop, overlapping with disk and network I/O. Each session stays on one worker, which
 * processes its requests in order; bytes move by transferring their ArrayBuffer (a view that does
 * not own its whole buffer is copied first). Idle workers do not keep the process alive. A worker
 * that stops fails the requests it held and is replaced for later sessions.
 */
export class ChunkWorkerPool implements ChunkCrypto {
  private readonly size: number;
  private readonly workers: ChunkWorker[] = [];
  private nextId = 1;

  constructor(options: ChunkWorkerPoolOptions = {}) {
    this.size = Math.max(1, options.size ?? Math.min(4, availableParallelism() - 1));
  }

  session(key: Uint8Array): ChunkCryptoSession {
    const worker = this.pick();
    const s = this.nextId++;
    worker.sessions++;
    worker.post({ s, op: "open-session", key: new Uint8Array(key) });
    let closed = false;
    const call = async (message: object, data?: Uint8Array, ownsBuffer = false): Promise<Reply> => {
      if (closed) throw new OutpostError(ErrorCode.Internal, "chunk session is closed");
      const payload = data && (ownsBuffer && data.buffer instanceof ArrayBuffer ? data : handOver(data));
      const reply = await worker.request(
        this.nextId++,
        { s, ...message, ...(payload && { data: payload }) },
        payload ? [payload.buffer as ArrayBuffer] : [],
      );
      if (reply.integrity !== undefined) throw new OutpostError(ErrorCode.Integrity, reply.integrity);
      if (reply.error !== undefined) throw new OutpostError(ErrorCode.Internal, reply.error);
      return reply;
    };
    return {
      hash: async (data) => void (await call({ op: "hash" }, data)),
      seal: async (index, aad, data) => {
        const r = await call({ op: "seal", index, aad }, data);
        return [r.ct!, r.tag!];
      },
      open: async (index, aad, sealed, ownsBuffer) =>
        (await call({ op: "open", index, aad }, sealed, ownsBuffer)).data!,
      digest: async () => {
        const r = await call({ op: "digest" });
        return { md5: Buffer.from(r.md5!), sha256: Buffer.from(r.sha256!) };
      },
      close: () => {
        if (closed) return;
        closed = true;
        worker.sessions--;
        worker.post({ s, op: "close" });
      },
    };
  }

  /** Worker threads running now. */
  get threads(): number {
    return this.workers.length;
  }

  /** Stops every worker; sessions in progress fail with `OUTPOST_INTERNAL`. Later sessions start new ones. */
  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  /** @internal Test hook: makes every worker throw an uncaught error, as a bug in it would. */
  crashForTest(): void {
    for (const w of this.workers) w.post({ s: 0, op: "crash" });
  }

  private pick(): ChunkWorker {
    let best: ChunkWorker | undefined;
    for (const w of this.workers) if (!best || w.sessions < best.sessions) best = w;
    if (best && (best.sessions === 0 || this.workers.length >= this.size)) return best;
    const w = new ChunkWorker((stopped) => {
      const i = this.workers.indexOf(stopped);
      if (i >= 0) this.workers.splice(i, 1);
    });
    this.workers.push(w);
    return w;
  }
}

/** `data` as a view that owns its whole ArrayBuffer, so the buffer can be transferred. */
function handOver(data: Uint8Array): Uint8Array {
  if (data.byteOffset === 0 && data.byteLength === data.buffer.byteLength && data.buffer instanceof ArrayBuffer)
    return data;
  return new Uint8Array(data);
}

let shared: ChunkWorkerPool | undefined;

/** The process's shared {@link ChunkWorkerPool}, made at first use: the default of file transfers. */
export function defaultChunkCrypto(): ChunkCrypto {
  return (shared ??= new ChunkWorkerPool());
}
