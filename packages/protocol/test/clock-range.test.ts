import { describe, expect, it } from "vitest";
import { Channel } from "../src/channel.js";
import { createMemoryTransportPair } from "../src/transport.js";

describe("system clock range", () => {
  it("channel - a request timeout beyond 2^31-1 ms does not fire at once", async () => {
    const [ta, tb] = createMemoryTransportPair();
    const a = new Channel(ta);
    const b = new Channel(tb);
    const reply = a.request({ propertyRead: { thing: "t" } }, { timeoutMs: 0xffffffff });
    for await (const m of b.messages) {
      await new Promise((r) => setTimeout(r, 20));
      b.respond(m.requestId, {});
      break;
    }
    await expect(reply).resolves.toMatchObject({ body: "response" });
    await a.close();
    await b.close();
  });
});
