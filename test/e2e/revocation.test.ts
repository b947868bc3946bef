import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { EdgeClient } from "@outpost/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { operatorRequest } from "../helpers/operator-client.js";
import { type DeviceBundle, ServerProcess } from "../helpers/server-process.js";
import { waitUntil } from "../helpers/wait.js";

/** Connects a device and resolves with the client once it is connected. */
async function connected(server: ServerProcess, bundle: DeviceBundle, thing: string): Promise<EdgeClient> {
  const client = new EdgeClient({
    url: server.edgeUrl,
    appKey: bundle.appKey,
    tls: { ca: bundle.ca, cert: bundle.cert, key: bundle.key },
    reconnect: { initialDelayMs: 50, maxDelayMs: 200 },
  });
  client.thing(thing).service("ping", () => "pong");
  await client.connect();
  return client;
}

describe("revocation - changes made with the CLI cut live sessions", () => {
  let server: ServerProcess;

  beforeAll(async () => {
    server = ServerProcess.init();
    // Re-check sessions often so the test does not wait out the 5 s default.
    const configPath = join(server.dataDir, "config.json");
    const config = JSON.parse(readFileSync(configPath, "utf8"));
    config.edge.revalidateIntervalMs = 300;
    writeFileSync(configPath, JSON.stringify(config, null, 2));
    await server.start();
  });

  afterAll(async () => {
    await server?.dispose();
  });

  const invokePing = (thing: string) =>
    operatorRequest(
      server.operatorUrl,
      server.caPem,
      server.adminToken,
      "POST",
      `/api/things/${thing}/services/ping`,
      {},
    );

  it("revocation - revoking the key of a connected device disconnects it, and it stops reconnecting", async () => {
    const bundle = server.addDevice("dev-revoked", ["rev-1"]);
    const client = await connected(server, bundle, "rev-1");
    expect((await invokePing("rev-1")).body.result).toBe("pong");

    const keyId = bundle.appKey.slice(4, 20);
    server.cli(["key", "revoke", keyId]);
    const status = await waitUntil(
      "the session to be cut",
      () =>
        client.status.type === "disconnected" && client.status.retryInMs === undefined ? client.status : undefined,
      { timeoutMs: 15_000 },
    );
    expect(status.type === "disconnected" && (status.error as { code?: string } | undefined)?.code).toBe(
      "OUTPOST_UNAUTHORIZED",
    );
    expect((await invokePing("rev-1")).status).toBe(503);
    expect(
      server
        .auditRecords()
        .some((r) => r.type === "denied" && r.actor === "device:dev-revoked" && JSON.stringify(r).includes("revoked")),
    ).toBe(true);
    await client.close();
  });

  it("revocation - disabling a connected device disconnects it", async () => {
    const bundle = server.addDevice("dev-disabled", ["dis-1"]);
    const client = await connected(server, bundle, "dis-1");
    server.cli(["device", "disable", "dev-disabled"]);
    await waitUntil("the session to be cut", () => client.status.type === "disconnected", { timeoutMs: 15_000 });
    expect((await invokePing("dis-1")).status).toBe(503);
    await client.close();
  });
});
