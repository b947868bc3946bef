import { describe, expect, it } from "vitest";
import { Channel } from "../src/channel.js";
import { decodeFrame } from "../src/codec.js";
import type { Envelope } from "../src/messages.js";
import { createMemoryTransportPair } from "../src/transport.js";
import { FakeClock } from "./helpers/fake-clock.js";

async function ticks(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
}

const HIGH_WATER = 64 * 1024;

function setup() {
  const [ta, tb] = createMemoryTransportPair();
  const channel = new Channel(ta, {
    clock: new FakeClock(),
    sendHighWaterBytes: HIGH_WATER,
    maxBulkFrameBytes: 16 * 1024,
  });
  channel.setPeerLimits({ maxFrameBytes: 1024 * 1024, maxMessageBytes: 16 * 1024 * 1024 });
  const frames = (tb.frames as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
  return { ta, channel, frames };
}

const bigEvent = {
  event: { thing: "t", name: "big", data: { blob: { bytesValue: new Uint8Array(4 * 1024 * 1024) } } },
};

describe("channel outbox", () => {
  it("channel - a large message is written part by part as the transport drains, not in one burst", async () => {
    const { ta, channel, frames } = setup();
    channel.send(bigEvent);
    await ticks(5);
    // The peer reads nothing: what the transport holds stays near the high-water mark.
    expect(ta.bufferedBytes).toBeGreaterThan(0);
    expect(ta.bufferedBytes).toBeLessThanOrEqual(HIGH_WATER + 16 * 1024);
    expect(channel.sendBacklog.orderedMessages).toBe(1);
    let parts = 0;
    let maxBuffered = 0;
    for (;;) {
      const f = await frames.next();
      const env = decodeFrame(f.value as Uint8Array);
      expect(env.body).toBe("multipart");
      parts++;
      maxBuffered = Math.max(maxBuffered, ta.bufferedBytes);
      if (env.multipart!.index === env.multipart!.count! - 1) break;
    }
    expect(parts).toBeGreaterThan(200);
    expect(maxBuffered).toBeLessThanOrEqual(HIGH_WATER + 16 * 1024);
    await channel.close(new Error("done"));
  });

  it("channel - replies and keep-alives overtake the parts of a large message; ordered messages stay behind it", async () => {
    const { channel, frames } = setup();
    channel.send(bigEvent);
    channel.send({ event: { thing: "t", name: "after" } });
    channel.send({ keepAlive: { timestampMs: 7, reply: true } });
    const seen: Envelope[] = [];
    let keepAliveAt = -1;
    let afterAt = -1;
    let lastPartAt = -1;
    for (let i = 0; afterAt < 0 && i < 10_000; i++) {
      const env = decodeFrame((await frames.next()).value as Uint8Array);
      seen.push(env);
      if (env.body === "keepAlive") keepAliveAt = i;
      if (env.body === "event") afterAt = i;
      if (env.body === "multipart" && env.multipart!.index === env.multipart!.count! - 1) lastPartAt = i;
    }
    expect(keepAliveAt).toBeGreaterThanOrEqual(0);
    expect(keepAliveAt).toBeLessThan(10);
    expect(afterAt).toBeGreaterThan(lastPartAt);
    await channel.close(new Error("done"));
  });

  it("channel - a clean close writes the queued parts first", async () => {
    const [ta, tb] = createMemoryTransportPair();
    const channel = new Channel(ta, { sendHighWaterBytes: HIGH_WATER });
    const peer = new Channel(tb, { limits: { maxMessageBytes: 16 * 1024 * 1024 } });
    channel.setPeerLimits({ maxMessageBytes: 16 * 1024 * 1024 });
    const got = (async () => {
      for await (const m of peer.messages) return m;
      return undefined;
    })();
    channel.send(bigEvent);
    channel.send({ goodbye: { reason: 1 } });
    await channel.close();
    const first = await got;
    expect(first?.event?.data?.blob?.bytesValue?.byteLength).toBe(4 * 1024 * 1024);
    await peer.close();
  });
});

describe("channel outbox on a closed transport", () => {
  it("channel - parts queued when the transport closes are dropped without spinning", async () => {
    const { ta, channel } = setup();
    channel.send(bigEvent);
    await ticks(2);
    expect(ta.bufferedBytes).toBeGreaterThan(0);
    await ta.close();
    await ticks(5);
    expect(ta.bufferedBytes).toBe(0);
    await channel.closed();
    expect(channel.sendBacklog.orderedMessages).toBe(0);
  });
});
