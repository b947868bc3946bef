import { afterEach, describe, expect, it } from "vitest";
import type { EdgeClient } from "../src/client.js";
import { clientFor } from "./helpers/client.js";
import { FakeServer, until } from "./helpers/fake-server.js";

let client: EdgeClient | undefined;
afterEach(async () => {
  await client?.close({ flush: false });
  client = undefined;
});

describe("EdgeClient replaced by another connection", () => {
  it("reconnect - goodbye REPLACED stops reconnecting with OUTPOST_CONFLICT; connect() takes over again", async () => {
    const server = new FakeServer();
    client = clientFor(server);
    await client.connect();
    server.last.channel.send({ goodbye: { reason: 6, message: "replaced by a newer connection" } });
    await until(() => client?.status.type === "disconnected");
    const s = client.status;
    expect(s.type === "disconnected" && s.error).toMatchObject({ code: "OUTPOST_CONFLICT" });
    expect(s.type === "disconnected" && s.retryInMs).toBeUndefined();
    expect(server.connections).toHaveLength(1);
    await client.connect();
    expect(server.connections).toHaveLength(2);
  });
});
