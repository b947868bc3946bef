import { describe, expect, it } from "vitest";
import { Channel } from "../src/channel.js";
import { encodeFrame } from "../src/codec.js";
import { createMemoryTransportPair } from "../src/transport.js";
import { FakeClock } from "./helpers/fake-clock.js";

async function ticks(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
}

describe("channel backpressure", () => {
  it("channel - stops reading the transport while too many messages wait, so the transport can push back", async () => {
    const [ta, tb] = createMemoryTransportPair();
    const channel = new Channel(ta, { clock: new FakeClock(), maxQueuedMessages: 8 });
    const frame = encodeFrame({ keepAlive: { timestampMs: 1, reply: true } });
    for (let i = 0; i < 100; i++) tb.send(frame);
    await ticks(5);
    const transportBacklog = (ta.frames as unknown as { length: number }).length;
    expect(transportBacklog).toBeGreaterThanOrEqual(100 - 8);
    expect(channel.queuedMessages).toBeLessThanOrEqual(8);
    let received = 0;
    for await (const m of channel.messages) {
      expect(m.body).toBe("keepAlive");
      if (++received === 100) break;
      expect(channel.queuedMessages).toBeLessThanOrEqual(8);
    }
    expect(received).toBe(100);
    await channel.close();
  });

  it("channel - a consumer that keeps up never makes the channel stop reading", async () => {
    const [ta, tb] = createMemoryTransportPair();
    const channel = new Channel(ta, { clock: new FakeClock(), maxQueuedMessages: 4 });
    const peer = new Channel(tb, { clock: new FakeClock() });
    const seen: number[] = [];
    const consuming = (async () => {
      for await (const m of channel.messages) seen.push(m.keepAlive?.timestampMs ?? 0);
    })();
    for (let i = 1; i <= 50; i++) peer.send({ keepAlive: { timestampMs: i } });
    await ticks(5);
    expect(seen).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    await channel.close();
    await consuming;
  });
});
