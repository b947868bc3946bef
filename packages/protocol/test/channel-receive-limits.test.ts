import { describe, expect, it } from "vitest";
import { Channel } from "../src/channel.js";
import { ErrorCode } from "../src/errors.js";
import { createMemoryTransportPair } from "../src/transport.js";

describe("channel receive limits", () => {
  it("channel - setReceiveLimits narrows the multipart budget for the next message", async () => {
    const [a, b] = createMemoryTransportPair();
    const receiver = new Channel(a);
    const sender = new Channel(b);
    receiver.setReceiveLimits({ maxFrameBytes: 4096, maxMessageBytes: 8192 });
    expect(receiver.limits.maxMessageBytes).toBe(8192);
    sender.setPeerLimits({ maxFrameBytes: 4096 });
    sender.send({ hello: { agent: "x".repeat(20_000) } });
    const err = await receiver.closed();
    expect(err).toMatchObject({ code: ErrorCode.LimitExceeded });
    await sender.close();
  });

  it("channel - widened receive limits accept what the narrow ones refused", async () => {
    const [a, b] = createMemoryTransportPair();
    const receiver = new Channel(a, { limits: { maxFrameBytes: 4096, maxMessageBytes: 8192 } });
    const sender = new Channel(b);
    receiver.setReceiveLimits({ maxMessageBytes: 1024 * 1024 });
    sender.setPeerLimits({ maxFrameBytes: 4096 });
    sender.send({ hello: { agent: "x".repeat(20_000) } });
    const first = await receiver.messages[Symbol.asyncIterator]().next();
    expect(first.value?.hello?.agent).toHaveLength(20_000);
    await sender.close();
    await receiver.close();
  });
});
