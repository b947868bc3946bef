import { EdgeClient } from "../../src/client.js";
import type { EdgeClientOptions } from "../../src/options.js";
import type { FakeServer } from "./fake-server.js";

/** A client wired to `server` with small delays so tests run fast. */
export function clientFor(server: FakeServer, overrides: Partial<EdgeClientOptions> = {}): EdgeClient {
  return new EdgeClient({
    url: "wss://primary.test",
    appKey: "opk_test_secret",
    tls: { ca: "unused" },
    transportFactory: server.factory,
    reconnect: { initialDelayMs: 5, maxDelayMs: 20 },
    flushIntervalMs: 5,
    requestTimeoutMs: 2_000,
    ...overrides,
  });
}
