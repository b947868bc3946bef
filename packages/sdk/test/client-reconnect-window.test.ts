import { GoodbyeReason } from "@outpost/protocol";
import { afterEach, describe, expect, it } from "vitest";
import type { EdgeClient } from "../src/client.js";
import { clientFor } from "./helpers/client.js";
import { FakeServer, until } from "./helpers/fake-server.js";

let client: EdgeClient | undefined;
afterEach(async () => {
  await client?.close({ flush: false });
  client = undefined;
});

/** The `retryInMs` of every scheduled reconnect, in order. */
function retries(c: EdgeClient): number[] {
  const delays: number[] = [];
  c.on("status", (s) => {
    if (s.type === "disconnected" && s.retryInMs !== undefined) delays.push(s.retryInMs);
  });
  return delays;
}

/**
 * Connects, then makes the server's side end the connection (with `goodbye` first, or silently)
 * and refuse the next `refusals` attempts; resolves once that many retries have been scheduled.
 */
async function loseConnection(
  server: FakeServer,
  c: EdgeClient,
  delays: number[],
  options: { goodbye?: GoodbyeReason; refusals: number },
): Promise<void> {
  await c.connect();
  server.failNext = options.refusals;
  const conn = server.last;
  if (options.goodbye !== undefined) conn.channel.send({ goodbye: { reason: options.goodbye, message: "bye" } });
  await conn.channel.close();
  await until(() => delays.length >= 2, 5_000);
}

describe("EdgeClient and the server's reconnect window", () => {
  it("reconnect - a connection lost without a Goodbye retries at once, then waits a random share of the window", async () => {
    const server = new FakeServer();
    server.reconnectWindowMs = 10_000;
    client = clientFor(server, { random: () => 0.5 });
    const delays = retries(client);
    await loseConnection(server, client, delays, { refusals: 1 });
    // The first retry follows the backoff (bound 5 ms here); the next waits half the window.
    expect(delays[0]).toBeLessThanOrEqual(5);
    expect(delays[1]).toBe(5_000);
  });

  it("reconnect - after its point in the window a device that still fails returns to the plain backoff", async () => {
    const server = new FakeServer();
    server.reconnectWindowMs = 200;
    client = clientFor(server, { random: () => 0.5 });
    const delays = retries(client);
    await loseConnection(server, client, delays, { refusals: 3 });
    await until(() => delays.length >= 4, 5_000);
    expect(delays.slice(0, 2)).toEqual([2, 100]);
    // 5 ms backoff bound doubling, capped at 20: half of 10, then of 20.
    expect(delays.slice(2, 4)).toEqual([5, 10]);
  });

  it("reconnect - after a Goodbye the window does not apply: the backoff and the Goodbye's hint do", async () => {
    const server = new FakeServer();
    server.reconnectWindowMs = 10_000;
    client = clientFor(server, { random: () => 0.5 });
    const delays = retries(client);
    await loseConnection(server, client, delays, { goodbye: GoodbyeReason.RESTART, refusals: 1 });
    expect(delays[1]).toBeLessThanOrEqual(20);
  });

  it("reconnect - a server that asks for no window gets the plain backoff", async () => {
    const server = new FakeServer();
    client = clientFor(server, { random: () => 0.5 });
    const delays = retries(client);
    await loseConnection(server, client, delays, { refusals: 1 });
    expect(delays[1]).toBeLessThanOrEqual(20);
  });
});
