import { isOutpostError } from "@outpost/protocol";
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

describe("EdgeClient session", () => {
  it("session - hello, auth and bind, then status connected", async () => {
    const server = new FakeServer();
    client = clientFor(server);
    client.thing("pump");
    client.thing("valve");
    await client.connect();
    expect(client.status).toMatchObject({
      type: "connected",
      sessionId: "s1",
      deviceId: "dev-1",
      url: "wss://primary.test",
    });
    const kinds = server.last.received.map((e) => e.body);
    expect(kinds.slice(0, 3)).toEqual(["hello", "auth", "bind"]);
    expect(server.last.received[0]?.hello?.agent).toMatch(/^outpost-sdk\//);
    expect(server.last.received[1]?.auth?.appKey).toBe("opk_test_secret");
    expect(server.last.received[2]?.bind?.things).toEqual(["pump", "valve"]);
  });

  it("session - refused bind is reported as an error event, other Things stay bound", async () => {
    const server = new FakeServer();
    server.refusedThings.add("secret");
    client = clientFor(server);
    const errors: Error[] = [];
    client.on("error", (e) => errors.push(e));
    client.thing("secret");
    client.thing("pump");
    await client.connect();
    expect(errors).toHaveLength(1);
    expect(isOutpostError(errors[0], "OUTPOST_FORBIDDEN")).toBe(true);
  });

  it("session - auth 401 rejects connect with OUTPOST_UNAUTHORIZED and does not retry", async () => {
    const server = new FakeServer();
    server.authStatus = 401;
    client = clientFor(server);
    await expect(client.connect()).rejects.toMatchObject({ code: "OUTPOST_UNAUTHORIZED" });
    expect(client.status.type).toBe("disconnected");
    expect((client.status as { retryInMs?: number }).retryInMs).toBeUndefined();
    expect(server.connections).toHaveLength(1);
  });

  it("reconnect - network failures are retried with backoff, rotating through fallback urls", async () => {
    const server = new FakeServer();
    server.failNext = 2;
    client = clientFor(server, { fallbackUrls: ["wss://backup.test"] });
    const seen: ConnectionStatus[] = [];
    client.on("status", (s) => seen.push(s));
    await client.connect();
    expect(server.urls).toEqual(["wss://primary.test", "wss://backup.test", "wss://primary.test"]);
    const waits = seen.filter((s) => s.type === "disconnected");
    expect(waits).toHaveLength(2);
    for (const w of waits) {
      expect(w.type === "disconnected" && typeof w.retryInMs).toBe("number");
      expect(w.type === "disconnected" && w.error?.message).toMatch(/refused/);
    }
  });

  it("reconnect - reconnect: false rejects connect on the first network failure", async () => {
    const server = new FakeServer();
    server.failNext = 1;
    client = clientFor(server, { reconnect: false });
    await expect(client.connect()).rejects.toMatchObject({ code: "OUTPOST_UNAVAILABLE" });
  });

  it("reconnect - maxAttempts bounds the retries", async () => {
    const server = new FakeServer();
    server.failNext = 10;
    client = clientFor(server, { reconnect: { initialDelayMs: 1, maxDelayMs: 2, maxAttempts: 3 } });
    await expect(client.connect()).rejects.toMatchObject({ code: "OUTPOST_UNAVAILABLE" });
    expect(server.urls).toHaveLength(3);
  });

  it("reconnect - after a dropped connection the client re-binds and re-syncs current values", async () => {
    const server = new FakeServer();
    client = clientFor(server);
    const pump = client.thing("pump");
    pump.property("rpm", { type: "integer" });
    pump.property("mode", { type: "string", push: "never", initial: "auto" });
    await client.connect();
    pump.set("rpm", 1200);
    await client.flush();
    expect(server.updates.map((u) => u.seq)).toEqual([1]);
    await server.last.channel.close();
    await until(() => server.connections.length === 2 && client?.status.type === "connected");
    await until(() => server.updates.length === 2);
    expect(server.connections[1]?.received.map((e) => e.body).slice(0, 3)).toEqual(["hello", "auth", "bind"]);
    expect(server.updates[1]).toMatchObject({ thing: "pump", name: "rpm", seq: 0 });
    expect(server.updates[1]?.value?.intValue).toBe(1200);
  });

  it("reconnect - goodbye with reconnect_after_ms delays the next attempt at least that long", async () => {
    const server = new FakeServer();
    client = clientFor(server);
    await client.connect();
    const seen: ConnectionStatus[] = [];
    client.on("status", (s) => seen.push(s));
    server.last.channel.send({ goodbye: { reason: 2, message: "restarting", reconnectAfterMs: 40 } });
    await until(() => seen.some((s) => s.type === "disconnected"));
    const d = seen.find((s) => s.type === "disconnected");
    expect(d?.type === "disconnected" && d.retryInMs).toBeGreaterThanOrEqual(40);
    await until(() => client?.status.type === "connected");
  });

  it("reconnect - goodbye AUTH_REVOKED stops reconnecting with OUTPOST_UNAUTHORIZED", async () => {
    const server = new FakeServer();
    client = clientFor(server);
    await client.connect();
    server.last.channel.send({ goodbye: { reason: 3, message: "key revoked" } });
    await until(() => client?.status.type === "disconnected");
    const s = client.status;
    expect(s.type === "disconnected" && s.error).toMatchObject({ code: "OUTPOST_UNAUTHORIZED" });
    expect(s.type === "disconnected" && s.retryInMs).toBeUndefined();
    expect(server.connections).toHaveLength(1);
  });

  it("connect - AbortSignal stops connecting with OUTPOST_ABORTED", async () => {
    const server = new FakeServer();
    server.failNext = 1_000;
    client = clientFor(server, { reconnect: { initialDelayMs: 20, maxDelayMs: 20 } });
    const ac = new AbortController();
    const p = client.connect({ signal: ac.signal });
    await until(() => server.urls.length >= 1);
    ac.abort();
    await expect(p).rejects.toMatchObject({ code: "OUTPOST_ABORTED" });
    const attempts = server.urls.length;
    await new Promise((r) => setTimeout(r, 60));
    expect(server.urls.length).toBe(attempts);
  });

  it("status - statusChanges yields the lifecycle and ends after closed", async () => {
    const server = new FakeServer();
    client = clientFor(server);
    const types: string[] = [];
    const reading = (async () => {
      for await (const s of client!.statusChanges()) types.push(s.type);
    })();
    await client.connect();
    await client.close();
    await reading;
    expect(types).toEqual(["idle", "connecting", "connected", "closed"]);
  });
});
