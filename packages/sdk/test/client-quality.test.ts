import { Quality } from "@outpost/protocol";
import { afterEach, describe, expect, it } from "vitest";
import type { EdgeClient } from "../src/client.js";
import { clientFor } from "./helpers/client.js";
import { FakeServer, until } from "./helpers/fake-server.js";

let client: EdgeClient | undefined;
afterEach(async () => {
  await client?.close({ flush: false });
  client = undefined;
});

describe("EdgeClient keeps a value's quality", () => {
  it("read - the server reads the quality the value was set with", async () => {
    const server = new FakeServer();
    client = clientFor(server);
    const t = client.thing("pump");
    t.set("rpm", 1500, { quality: "bad" });
    await client.connect();
    const reply = await server.last.channel.request({ propertyRead: { thing: "pump", names: ["rpm"] } });
    expect(reply.response?.values?.[0]?.quality ?? Quality.GOOD).toBe(Quality.BAD);
  });

  it("reconnect - the re-sync after a reconnect sends the value's quality", async () => {
    const server = new FakeServer();
    client = clientFor(server);
    const t = client.thing("pump");
    await client.connect();
    t.set("rpm", 1500, { quality: "uncertain" });
    await client.flush();
    await server.last.channel.close();
    await until(() => server.connections.length === 2 && server.updates.length === 2);
    expect(server.updates.map((u) => [u.seq === 0, u.quality ?? Quality.GOOD])).toEqual([
      [false, Quality.UNCERTAIN],
      [true, Quality.UNCERTAIN],
    ]);
  });
});
