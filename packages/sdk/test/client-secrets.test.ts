import { inspect } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import type { EdgeClient } from "../src/client.js";
import { clientFor } from "./helpers/client.js";
import { FakeServer } from "./helpers/fake-server.js";

let client: EdgeClient | undefined;
afterEach(async () => {
  await client?.close({ flush: false });
  client = undefined;
});

describe("EdgeClient secrets", () => {
  it("secrets - inspecting or serializing the client shows neither the application key nor the passphrase", async () => {
    const server = new FakeServer();
    client = clientFor(server, {
      appKey: "opk_k1_TOPSECRETKEY",
      tls: { ca: "unused", passphrase: "TOPSECRETPASS" },
    });
    const texts = [JSON.stringify(client), inspect(client, { depth: 3 })];
    await client.connect();
    texts.push(inspect(client, { depth: 3 }), inspect(client));
    for (const text of texts) {
      expect(text).not.toContain("TOPSECRETKEY");
      expect(text).not.toContain("TOPSECRETPASS");
    }
  });
});
