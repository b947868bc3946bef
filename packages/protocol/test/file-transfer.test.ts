import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { Channel } from "../src/channel.js";
import {
  type FileSink,
  type FileSource,
  FileTransferError,
  getFile,
  isRetryable,
  putFile,
  serveFileStream,
  type FileStreamHandlers,
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
  return { open: server.openStream.bind(server), device, server };
}

function source(data: Uint8Array, version = "v1"): FileSource & { reads: number } {
  const s = {
    size: data.byteLength,
    version,
    reads: 0,
    async read(offset: number, length: number) {
      s.reads += length;
      return data.subarray(offset, offset + length);
    },
    async close() {},
  };
  return s;
}

class MemorySink implements FileSink {
  staging = new Uint8Array(0);
  committed: Uint8Array | undefined;
  discarded = 0;
  async staged() {
    return this.staging.byteLength;
  }
  async read(offset: number, length: number) {
    return this.staging.subarray(offset, offset + length);
  }
  async truncate(length: number) {
    this.staging = this.staging.slice(0, length);
  }
  async write(offset: number, data: Uint8Array) {
    const next = new Uint8Array(offset + data.byteLength);
    next.set(this.staging.subarray(0, offset));
    next.set(data, offset);
    this.staging = next;
  }
  async commit() {
    this.committed = this.staging;
  }
  async discard() {
    this.discarded++;
    this.staging = new Uint8Array(0);
  }
}

const CHUNK = 16 * 1024;
const WINDOW = 4;

describe("files - transfer engine over an in-memory stream pair", () => {
  it("files - a PUT arrives whole with matching MD5 and SHA-256 on both ends", async () => {
    const sink = new MemorySink();
    const { open } = pair(() => ({ put: async () => sink }));
    const data = randomBytes(300_001);
    const result = await putFile(open, source(data), { transferId: "t1", path: "logs/a", chunkBytes: CHUNK });
    expect(Buffer.from(sink.committed!).equals(data)).toBe(true);
    expect(result.md5).toMatch(/^[0-9a-f]{32}$/);
    expect(result.bytesOnWire).toBe(data.byteLength);
  });

  it("files - a GET arrives whole, and an empty file too", async () => {
    for (const data of [randomBytes(100_000), new Uint8Array(0)]) {
      const { open } = pair(() => ({ get: async () => source(data) }));
      const sink = new MemorySink();
      const r = await getFile(open, sink, { transferId: "t2", path: "logs/b", chunkBytes: CHUNK });
      expect(Buffer.from(sink.committed!).equals(Buffer.from(data))).toBe(true);
      expect(r.size).toBe(data.byteLength);
    }
  });

  it("files - an interrupted PUT resumes at the last verified chunk; re-sent bytes stay within window x chunk", async () => {
    const sink = new MemorySink();
    const data = randomBytes(64 * CHUNK);
    let cut: Stream | undefined;
    const { open } = pair(() => ({ put: async () => sink }));
    const first = putFile((o) => (cut = open(o)), source(data), {
      transferId: "t3",
      path: "logs/c",
      chunkBytes: CHUNK,
      windowChunks: WINDOW,
      hooks: { onSealedChunk: (i) => void (i === 30 && cut!.reset(0, "link cut")) },
    });
    const err = await first.catch((e: unknown) => e);
    expect(isRetryable(err)).toBe(true);
    expect(sink.committed).toBeUndefined();
    const staged = sink.staging.byteLength;
    expect(staged).toBeGreaterThan(0);
    const second = await putFile(open, source(data), {
      transferId: "t3",
      path: "logs/c",
      chunkBytes: CHUNK,
      windowChunks: WINDOW,
    });
    expect(Buffer.from(sink.committed!).equals(data)).toBe(true);
    expect(second.resumedFromChunk).toBeGreaterThan(0);
    const sentFirst = 31 * CHUNK;
    expect(sentFirst + second.bytesOnWire - data.byteLength).toBeLessThanOrEqual(WINDOW * CHUNK);
  });

  it("files - a flipped bit in one sealed chunk is detected and nothing is committed", async () => {
    const sink = new MemorySink();
    const { open } = pair(() => ({ put: async () => sink }));
    const data = randomBytes(10 * CHUNK);
    const err = await putFile(open, source(data), {
      transferId: "t4",
      path: "logs/d",
      chunkBytes: CHUNK,
      hooks: { onSealedChunk: (i, sealed) => void (i === 5 && (sealed[100]! ^= 1)) },
    }).catch((e: unknown) => e);
    expect((err as FileTransferError).code).toBe("OUTPOST_INTEGRITY");
    expect(isRetryable(err)).toBe(true);
    expect(sink.committed).toBeUndefined();
    expect(sink.staging.byteLength).toBe(5 * CHUNK);
    // The resumed attempt (new keys) completes from chunk 5.
    const r = await putFile(open, source(data), { transferId: "t4", path: "logs/d", chunkBytes: CHUNK });
    expect(r.resumedFromChunk).toBe(5);
    expect(Buffer.from(sink.committed!).equals(data)).toBe(true);
  });

  it("files - staged bytes that differ from the source fail the whole-file check and are discarded", async () => {
    const sink = new MemorySink();
    const data = randomBytes(8 * CHUNK);
    sink.staging = randomBytes(3 * CHUNK);
    const { open } = pair(() => ({ put: async () => sink }));
    const err = await putFile(open, source(data), { transferId: "t5", path: "logs/e", chunkBytes: CHUNK }).catch(
      (e: unknown) => e,
    );
    expect((err as FileTransferError).code).toBe("OUTPOST_INTEGRITY");
    expect(isRetryable(err)).toBe(false);
    expect(sink.committed).toBeUndefined();
    expect(sink.discarded).toBeGreaterThan(0);
  });

  it("files - a refusal by the acceptor arrives as its typed error", async () => {
    const { open } = pair(() => ({
      put: async () => {
        throw new FileTransferError("OUTPOST_FILE_TOO_LARGE", "too big", false);
      },
    }));
    const err = await putFile(open, source(randomBytes(10)), { transferId: "t6", path: "x/y" }).catch(
      (e: unknown) => e,
    );
    expect((err as FileTransferError).code).toBe("OUTPOST_FILE_TOO_LARGE");
  });
});
