import { createHash, randomBytes } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { Channel } from "../src/channel.js";
import {
  type ChunkCrypto,
  ChunkWorkerPool,
  CRYPTO_IN_FLIGHT_CHUNKS,
  type FileSink,
  type FileSource,
  type FileStreamHandlers,
  inlineChunkCrypto,
  isRetryable,
  putFile,
  serveFileStream,
} from "../src/index.js";
import type { Stream } from "../src/stream.js";
import { createMemoryTransportPair } from "../src/transport.js";
import { FakeClock } from "./helpers/fake-clock.js";

function pair(handlers: () => FileStreamHandlers) {
  const [ta, tb] = createMemoryTransportPair();
  const limits = { streamWindow: 1024 * 1024, connectionWindow: 4 * 1024 * 1024, maxStreams: 16 };
  const device = new Channel(ta, { clock: new FakeClock(), limits });
  const server = new Channel(tb, { clock: new FakeClock(), limits });
  device.setPeerLimits(server.limits);
  server.setPeerLimits(device.limits);
  device.enableStreams({ side: "device", onStream: (s: Stream) => void serveFileStream(s, handlers()) });
  server.enableStreams({ side: "server" });
  return { open: server.openStream.bind(server) };
}

function source(data: Uint8Array): FileSource {
  return {
    size: data.byteLength,
    version: "v1",
    read: async (offset, length) => Buffer.from(data.subarray(offset, offset + length)),
    close: async () => {},
  };
}

class MemorySink implements FileSink {
  staging = Buffer.alloc(0);
  committed: Buffer | undefined;
  discarded = 0;
  released = 0;
  async staged() {
    return this.staging.byteLength;
  }
  async read(offset: number, length: number) {
    return this.staging.subarray(offset, offset + length);
  }
  async truncate(length: number) {
    this.staging = this.staging.subarray(0, length);
  }
  async write(offset: number, data: Uint8Array) {
    this.staging = Buffer.concat([this.staging.subarray(0, offset), data]);
  }
  async commit() {
    this.committed = this.staging;
  }
  async discard() {
    this.discarded++;
    this.staging = Buffer.alloc(0);
  }
  async release() {
    this.released++;
  }
}

/**
 * The inline crypto, but each result completes only when a later request came in or a timer ran:
 * later chunks complete before earlier ones. Counts the requests made and not yet settled.
 */
function reordering(): ChunkCrypto & { maxOutstanding: number } {
  const c = {
    maxOutstanding: 0,
    session(key: Uint8Array) {
      const inner = inlineChunkCrypto.session(key);
      let outstanding = 0;
      let n = 0;
      const later = <T>(p: Promise<T>): Promise<T> => {
        outstanding++;
        c.maxOutstanding = Math.max(c.maxOutstanding, outstanding);
        // Even requests wait 2-5 ms, odd ones settle at once: completion order differs from request order.
        const delay = n++ % 2 === 0 ? 2 + (n % 4) : 0;
        return new Promise<T>((resolve, reject) =>
          setTimeout(() => {
            outstanding--;
            p.then(resolve, reject);
          }, delay),
        );
      };
      return {
        hash: (d: Uint8Array) => later(inner.hash(d)),
        seal: (i: number, aad: Uint8Array, d: Uint8Array) => later(inner.seal(i, aad, d)),
        open: (i: number, aad: Uint8Array, s: Uint8Array) => later(inner.open(i, aad, s)),
        digest: () => inner.digest(),
        close: () => inner.close(),
      };
    },
  };
  return c;
}

const CHUNK = 16 * 1024;
const pool = new ChunkWorkerPool({ size: 1 });
afterAll(() => pool.close());

describe("files - chunk crypto off the event loop", () => {
  it("files - chunks completing out of order are still written in order, at most 4 in flight per side", async () => {
    const sink = new MemorySink();
    const data = randomBytes(40 * CHUNK + 123);
    const sending = reordering();
    const receiving = reordering();
    const { open } = pair(() => ({ put: async () => sink, crypto: receiving }));
    const result = await putFile(open, source(data), {
      transferId: "order",
      path: "logs/a",
      chunkBytes: CHUNK,
      windowChunks: 16,
      crypto: sending,
    });
    expect(sink.committed?.equals(data)).toBe(true);
    expect(result.md5).toBe(createHash("md5").update(data).digest("hex"));
    expect(sending.maxOutstanding).toBeGreaterThan(1);
    expect(sending.maxOutstanding).toBeLessThanOrEqual(CRYPTO_IN_FLIGHT_CHUNKS);
    expect(receiving.maxOutstanding).toBeGreaterThan(1);
    expect(receiving.maxOutstanding).toBeLessThanOrEqual(CRYPTO_IN_FLIGHT_CHUNKS);
  });

  it("files - a window smaller than the in-flight bound still completes", async () => {
    const sink = new MemorySink();
    const data = randomBytes(9 * CHUNK);
    const { open } = pair(() => ({ put: async () => sink, crypto: reordering() }));
    await putFile(open, source(data), { transferId: "w1", path: "a", chunkBytes: CHUNK, windowChunks: 1 });
    expect(sink.committed?.equals(data)).toBe(true);
  });

  it("files - the worker pool seals, opens and hashes like the inline code; a changed record is OUTPOST_INTEGRITY", async () => {
    const key = randomBytes(32);
    const aad = randomBytes(24);
    const data = randomBytes(3 * CHUNK);
    const a = pool.session(key);
    const b = inlineChunkCrypto.session(key);
    const [sealedA, sealedB] = await Promise.all([
      a.seal(7, aad, Buffer.from(data)),
      b.seal(7, aad, Buffer.from(data)),
    ]);
    expect(Buffer.concat(sealedA).equals(Buffer.concat(sealedB))).toBe(true);
    expect(await a.digest()).toEqual(await b.digest());
    const opener = pool.session(key);
    const plain = await opener.open(7, aad, Buffer.concat(sealedB));
    expect(Buffer.from(plain).equals(data)).toBe(true);
    const bad = Buffer.concat(sealedB);
    bad[5]! ^= 1;
    await expect(opener.open(7, aad, bad)).rejects.toMatchObject({ code: "OUTPOST_INTEGRITY" });
    expect((await opener.digest()).md5.equals(createHash("md5").update(data).digest())).toBe(true);
    for (const s of [a, b, opener]) s.close();
  });

  for (const side of ["receiver", "sender"] as const) {
    it(`files - a crashed chunk worker on the ${side} fails the transfer with OUTPOST_INTERNAL and leaves no file`, async () => {
      const crashing = new ChunkWorkerPool({ size: 1 });
      const sink = new MemorySink();
      const data = randomBytes(64 * CHUNK);
      let crashed = false;
      const crash = () => {
        if (!crashed) crashing.crashForTest();
        crashed = true;
      };
      const hooks = { onProgress: (p: { bytesDone: number }) => void (p.bytesDone > 0 && crash()) };
      const { open } = pair(() => ({
        put: async () => sink,
        ...(side === "receiver" && { crypto: crashing, hooks }),
      }));
      const err = await putFile(open, source(data), {
        transferId: `crash-${side}`,
        path: "logs/b",
        chunkBytes: CHUNK,
        windowChunks: 4,
        crypto: side === "sender" ? crashing : pool,
        ...(side === "sender" && { hooks }),
      }).catch((e: unknown) => e);
      expect(crashed).toBe(true);
      expect(err).toMatchObject({ code: "OUTPOST_INTERNAL" });
      expect(isRetryable(err)).toBe(false);
      for (let i = 0; i < 100 && sink.discarded === 0; i++) await new Promise((r) => setTimeout(r, 10));
      expect(sink.committed).toBeUndefined();
      expect(sink.discarded).toBe(1);
      expect(sink.staging.byteLength).toBe(0);
      // The pool starts a new worker for the next session.
      const s = crashing.session(randomBytes(32));
      await s.hash(randomBytes(10));
      s.close();
      await crashing.close();
    });
  }
});
