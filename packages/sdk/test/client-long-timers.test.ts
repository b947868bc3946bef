import { afterEach, describe, expect, it } from "vitest";
import type { EdgeClient } from "../src/client.js";
import type { ConnectionStatus } from "../src/connection/status.js";
import { clientFor } from "./helpers/client.js";
import { FakeServer, until } from "./helpers/fake-server.js";

let client: EdgeClient | undefined;
afterEach(async () => {
  await client?.close({ flush: false });
  client = undefined;
});

const MAX_UINT32 = 0xffffffff;

describe("EdgeClient with delays beyond Node's timer range", () => {
  it("reconnect - a reconnect_after_ms hint beyond 2^31-1 ms waits, it does not reconnect at once", async () => {
    const server = new FakeServer();
    client = clientFor(server);
    await client.connect();
    const seen: ConnectionStatus[] = [];
    client.on("status", (s) => seen.push(s));
    server.last.channel.send({ goodbye: { reason: 2, message: "maintenance", reconnectAfterMs: MAX_UINT32 } });
    await until(() => seen.some((s) => s.type === "disconnected"));
    await until(() => server.connections.length > 1, 300).catch(() => undefined);
    expect(server.connections).toHaveLength(1);
    const d = seen.find((s) => s.type === "disconnected");
    expect(d?.type === "disconnected" && d.retryInMs).toBeLessThanOrEqual(2 ** 31 - 1);
  });

  it("invoke - a service timeout_ms beyond 2^31-1 ms does not abort the handler at once", async () => {
    const server = new FakeServer();
    client = clientFor(server);
    client.thing("pump").service("slow", async (_p, ctx) => {
      await new Promise((r) => setTimeout(r, 20));
      return ctx.signal.aborted ? "aborted" : "done";
    });
    await client.connect();
    const reply = await server.last.channel.request(
      { serviceInvoke: { thing: "pump", service: "slow", params: {}, timeoutMs: MAX_UINT32 } },
      { timeoutMs: 5_000 },
    );
    expect(reply.response?.result?.stringValue).toBe("done");
  });
});
