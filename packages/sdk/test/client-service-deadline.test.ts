import { afterEach, describe, expect, it } from "vitest";
import type { EdgeClient } from "../src/client.js";
import { clientFor } from "./helpers/client.js";
import { FakeServer } from "./helpers/fake-server.js";

let client: EdgeClient | undefined;
afterEach(async () => {
  await client?.close({ flush: false });
  client = undefined;
});

describe("EdgeClient service deadlines", () => {
  it("invoke - a handler that ignores its signal is answered 408 at the caller's deadline", async () => {
    const server = new FakeServer();
    client = clientFor(server);
    client.thing("pump").service("stuck", () => new Promise(() => {}));
    await client.connect();
    const call = server.last.channel.request(
      { serviceInvoke: { thing: "pump", service: "stuck", params: {}, timeoutMs: 20 } },
      { timeoutMs: 5_000 },
    );
    await expect(call).rejects.toMatchObject({
      code: "OUTPOST_TIMEOUT",
      status: 408,
      message: expect.stringMatching(/did not answer within 20 ms/),
    });
  });

  it("invoke - stuck handlers do not use up the device's concurrent request slots", async () => {
    const server = new FakeServer();
    client = clientFor(server, { limits: { maxConcurrentRequests: 2 } });
    client.thing("pump").service("stuck", () => new Promise(() => {}));
    client.thing("pump").service("ok", () => "fine");
    await client.connect();
    for (let i = 0; i < 3; i++) {
      await server.last.channel
        .request(
          { serviceInvoke: { thing: "pump", service: "stuck", params: {}, timeoutMs: 10 } },
          { timeoutMs: 5_000 },
        )
        .catch(() => undefined);
    }
    const reply = await server.last.channel.request(
      { serviceInvoke: { thing: "pump", service: "ok", params: {} } },
      { timeoutMs: 5_000 },
    );
    expect(reply.response?.result?.stringValue).toBe("fine");
  });
});
