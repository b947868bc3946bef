import { describe, expect, it } from "vitest";
import { Channel } from "../src/channel.js";
import { createMemoryTransportPair } from "../src/transport.js";
import { FakeClock } from "./helpers/fake-clock.js";

describe("channel inbound request slots", () => {
  it("channel - a KeepAlive or other no-reply message with a request id does not take a request slot", async () => {
    const [ta, tb] = createMemoryTransportPair();
    const device = new Channel(ta, { clock: new FakeClock(), limits: { maxConcurrentRequests: 2 } });
    const server = new Channel(tb, { clock: new FakeClock() });
    const seen: string[] = [];
    const serving = (async () => {
      for await (const m of device.messages) {
        seen.push(m.body ?? "");
        if (m.body === "propertyRead") device.respond(m.requestId, {});
      }
    })();
    for (let id = 1; id <= 3; id++) server.send({ requestId: 1000 + id, keepAlive: { timestampMs: id } });
    const reply = await server.request({ propertyRead: { thing: "t" } });
    expect(reply.response?.status).toBe(200);
    expect(seen).toEqual(["keepAlive", "keepAlive", "keepAlive", "propertyRead"]);
    await server.close();
    await serving;
  });
});
