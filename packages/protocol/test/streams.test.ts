import { describe, expect, it } from "vitest";
import { Channel } from "../src/channel.js";
import { decodeFrame, encodeFrame } from "../src/codec.js";
import { ErrorCode } from "../src/errors.js";
import type { Stream } from "../src/stream.js";
import { StreamResetCode } from "../src/stream.js";
import { createMemoryTransportPair } from "../src/transport.js";
import { FakeClock } from "./helpers/fake-clock.js";

const WINDOW = 64 * 1024;

async function ticks(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
}

function pair(opts: { streamWindow?: number; connectionWindow?: number; maxStreams?: number; accept?: boolean } = {}) {
  const [ta, tb] = createMemoryTransportPair();
  const limits = {
    streamWindow: opts.streamWindow ?? WINDOW,
    connectionWindow: opts.connectionWindow ?? 4 * WINDOW,
    maxStreams: opts.maxStreams ?? 16,
  };
  const device = new Channel(ta, { clock: new FakeClock(), limits });
  const server = new Channel(tb, { clock: new FakeClock(), limits });
  device.setPeerLimits(server.limits);
  server.setPeerLimits(device.limits);
  const accepted: Stream[] = [];
  device.enableStreams({ side: "device" });
  server.enableStreams({ side: "server", ...(opts.accept !== false && { onStream: (s) => accepted.push(s) }) });
  return { device, server, ta, tb, accepted };
}

function pattern(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

async function readAll(stream: Stream): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of stream) parts.push(c);
  return Buffer.concat(parts);
}

async function writeAll(stream: Stream, data: Uint8Array, chunk = 16 * 1024): Promise<void> {
  for (let at = 0; at < data.byteLength; at += chunk) await stream.write(data.subarray(at, at + chunk));
  await stream.end();
}

describe("streams", () => {
  it("streams - bytes arrive intact both ways, fin half-closes, both ends finish and free their ids", async () => {
    const { device, server, accepted } = pair();
    const up = pattern(300_000, 1);
    const down = pattern(200_000, 2);
    const s = device.openStream({ type: "echo", header: Uint8Array.of(1, 2) });
    expect(s.id % 2).toBe(1);
    const writing = writeAll(s, up);
    await ticks(3);
    const r = accepted[0]!;
    expect(r.type).toBe("echo");
    expect([...r.header]).toEqual([1, 2]);
    const [gotUp] = await Promise.all([readAll(r), writing]);
    expect(Buffer.compare(gotUp, up)).toBe(0);
    const [gotDown] = await Promise.all([readAll(s), writeAll(r, down)]);
    expect(Buffer.compare(gotDown, down)).toBe(0);
    await expect(s.closed()).resolves.toBeUndefined();
    await expect(r.closed()).resolves.toBeUndefined();
    expect(device.streamStats.open).toBe(0);
    expect(server.streamStats.open).toBe(0);
    await device.close();
    await server.close();
  });

  it("streams - a stalled stream does not slow another, and its buffer stays within its window", async () => {
    const { device, server, accepted } = pair();
    const stalled = device.openStream({ type: "bulk" });
    const live = device.openStream({ type: "bulk" });
    const stalledWriting = writeAll(stalled, pattern(4 * 1024 * 1024, 3)).catch(() => undefined);
    const data = pattern(4 * 1024 * 1024, 4);
    const liveWriting = writeAll(live, data);
    await ticks(3);
    const [rStalled, rLive] = accepted;
    // Nobody reads rStalled; rLive is read to the end.
    const got = await readAll(rLive!);
    await liveWriting;
    expect(Buffer.compare(got, data)).toBe(0);
    expect(rStalled!.bufferedBytes).toBe(WINDOW);
    expect(server.streamStats.bufferedBytes).toBe(WINDOW);
    expect(stalled.sendCredit).toBe(0);
    stalled.reset(StreamResetCode.Cancel);
    await stalledWriting;
    await device.close();
    await server.close();
  });

  it("streams - memory stays bounded with a stalled reader: buffered bytes never exceed the window, then all arrive", async () => {
    const { device, server, accepted } = pair();
    const data = pattern(2 * 1024 * 1024, 5);
    const s = device.openStream({ type: "bulk" });
    let maxQueued = 0;
    const writing = (async () => {
      for (let at = 0; at < data.byteLength; at += 16 * 1024) {
        await s.write(data.subarray(at, at + 16 * 1024));
        maxQueued = Math.max(maxQueued, s.queuedBytes);
      }
      await s.end();
    })();
    let maxBuffered = 0;
    for (let i = 0; i < 50; i++) {
      await ticks(1);
      maxBuffered = Math.max(maxBuffered, server.streamStats.bufferedBytes);
    }
    expect(maxBuffered).toBe(WINDOW);
    expect(maxQueued).toBeLessThanOrEqual(64 * 1024 + 16 * 1024);
    const r = accepted[0]!;
    const parts: Uint8Array[] = [];
    for await (const c of r) {
      parts.push(c);
      maxBuffered = Math.max(maxBuffered, server.streamStats.bufferedBytes);
    }
    await writing;
    expect(maxBuffered).toBeLessThanOrEqual(WINDOW);
    expect(Buffer.compare(Buffer.concat(parts), data)).toBe(0);
    await device.close();
    await server.close();
  });

  it("streams - control messages keep flowing while a stream is saturated and its reader stalled", async () => {
    const { device, server } = pair();
    const s = device.openStream({ type: "bulk" });
    void writeAll(s, pattern(4 * 1024 * 1024, 6)).catch(() => undefined);
    const serving = (async () => {
      for await (const m of server.messages) if (m.requestId) server.respond(m.requestId, { status: 200 });
    })();
    for (let i = 0; i < 20; i++) {
      await expect(device.request({ event: { thing: "t", name: `e${i}` } })).resolves.toMatchObject({
        response: { status: 200 },
      });
    }
    s.reset();
    await device.close();
    await server.close();
    await serving;
  });

  it("streams - two saturated streams take turns on the wire", async () => {
    const [ta, tb] = createMemoryTransportPair();
    const device = new Channel(ta, { clock: new FakeClock() });
    // A raw peer with windows far larger than what is measured, so only the scheduler decides the order.
    device.setPeerLimits({ streamWindow: 4 * 1024 * 1024, connectionWindow: 16 * 1024 * 1024 });
    device.enableStreams({ side: "device" });
    const a = device.openStream({ type: "bulk" });
    const b = device.openStream({ type: "bulk" });
    a.tryWrite(pattern(2 * 1024 * 1024, 7));
    b.tryWrite(pattern(2 * 1024 * 1024, 8));
    const got = new Map<number, number>([
      [a.id, 0],
      [b.id, 0],
    ]);
    let total = 0;
    for await (const frame of tb.frames) {
      const env = decodeFrame(frame);
      if (env.body !== "streamData") continue;
      const n = env.streamData!.data!.byteLength;
      // a was written first and went out alone until b had data: count from b's first frame on.
      if (env.streamId === a.id && got.get(b.id) === 0) continue;
      got.set(env.streamId, got.get(env.streamId)! + n);
      total += n;
      if (total >= 1024 * 1024) break;
    }
    const ratio = got.get(a.id)! / Math.max(1, got.get(b.id)!);
    expect(ratio).toBeGreaterThan(0.8);
    expect(ratio).toBeLessThan(1.25);
    await device.close(new Error("done"));
  });

  it("streams - small writes of one turn are gathered into data frames of at most 64 KiB, in order", async () => {
    const [ta, tb] = createMemoryTransportPair();
    const device = new Channel(ta, { clock: new FakeClock() });
    device.setPeerLimits({ streamWindow: 4 * 1024 * 1024, connectionWindow: 16 * 1024 * 1024 });
    device.enableStreams({ side: "device" });
    const s = device.openStream({ type: "bulk" });
    const data = pattern(1024 * 1024, 3);
    // 5-byte, 16-byte and odd-sized pieces, as a tunnel record's head, tag and ciphertext arrive.
    for (let at = 0, i = 0; at < data.byteLength; i++) {
      const n = [5, 16, 4093][i % 3]!;
      s.tryWrite(data.subarray(at, at + n));
      at += n;
    }
    const parts: Uint8Array[] = [];
    let frames = 0;
    let largest = 0;
    for await (const frame of tb.frames) {
      const env = decodeFrame(frame);
      if (env.body !== "streamData") continue;
      frames++;
      largest = Math.max(largest, frame.byteLength);
      parts.push(env.streamData!.data!);
      if (parts.reduce((n, p) => n + p.byteLength, 0) >= data.byteLength) break;
    }
    expect(largest).toBeLessThanOrEqual(64 * 1024);
    expect(frames).toBeLessThanOrEqual(Math.ceil(data.byteLength / (64 * 1024 - 64)) + 1);
    expect(Buffer.concat(parts).equals(Buffer.from(data))).toBe(true);
    await device.close(new Error("done"));
  });

  it("streams - a reset reaches the peer's reader as StreamResetError with the code", async () => {
    const { device, server, accepted } = pair();
    const s = device.openStream({ type: "bulk" });
    await s.write(pattern(1000, 9));
    await ticks(3);
    const r = accepted[0]!;
    const reading = readAll(r);
    s.reset(300, "application gave up");
    await expect(reading).rejects.toMatchObject({ code: ErrorCode.StreamReset, resetCode: 300, remote: true });
    await expect(s.write(Uint8Array.of(1))).rejects.toMatchObject({ resetCode: 300, remote: false });
    await ticks(3);
    expect(server.streamStats.open).toBe(0);
    await device.close();
    await server.close();
  });

  it("streams - a peer that accepts no streams refuses them with a reset, and the connection lives on", async () => {
    const { device, server } = pair({ accept: false });
    const s = device.openStream({ type: "file" });
    await s.write(pattern(1000, 10));
    await expect(s.closed()).resolves.toMatchObject({ resetCode: StreamResetCode.Refused, remote: true });
    const serving = (async () => {
      for await (const m of server.messages) if (m.requestId) server.respond(m.requestId, { status: 200 });
    })();
    await expect(device.request({ event: { thing: "t", name: "e" } })).resolves.toBeDefined();
    await device.close();
    await server.close();
    await serving;
  });

  it("streams - opening past the peer's maxStreams is OUTPOST_TOO_MANY_STREAMS, the peer's streams not counted", async () => {
    const { device, server, accepted } = pair({ maxStreams: 2 });
    const mine = [device.openStream({ type: "a" }), device.openStream({ type: "a" })];
    expect(() => device.openStream({ type: "a" })).toThrow(expect.objectContaining({ code: ErrorCode.TooManyStreams }));
    const theirs = [server.openStream({ type: "b" }), server.openStream({ type: "b" })];
    expect(theirs.map((s) => s.id)).toEqual([2, 4]);
    await ticks(3);
    expect(accepted).toHaveLength(2);
    for (const s of [...mine, ...theirs]) s.reset();
    await device.close();
    await server.close();
  });

  it("streams - data beyond credit is a protocol error that closes the connection", async () => {
    const { server, tb, ta } = pair();
    void tb;
    ta.send(encodeFrame({ streamId: 1, streamOpen: { type: "x" } }));
    ta.send(encodeFrame({ streamId: 1, streamData: { data: new Uint8Array(WINDOW + 1) } }));
    await expect(server.closed()).resolves.toMatchObject({ code: ErrorCode.FlowControl });
  });

  it("streams - a stream frame on a connection without streams is a protocol error", async () => {
    const [ta, tb] = createMemoryTransportPair();
    const plain = new Channel(tb, { clock: new FakeClock() });
    ta.send(encodeFrame({ streamId: 1, streamOpen: { type: "x" } }));
    await expect(plain.closed()).resolves.toMatchObject({ code: ErrorCode.UnexpectedFrame });
    expect(() => plain.openStream({ type: "x" })).toThrow();
  });
});
