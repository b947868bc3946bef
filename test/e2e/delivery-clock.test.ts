import { EdgeClient, MemoryQueueStore } from "@outpost/sdk";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { appliedRuns } from "../helpers/delivery-record.js";
import { operatorRequest } from "../helpers/operator-client.js";
import { type DeviceBundle, ServerProcess } from "../helpers/server-process.js";

describe("delivery - whatever the device's clock says", () => {
  let server: ServerProcess;
  let bundle: DeviceBundle;

  beforeAll(async () => {
    server = ServerProcess.init();
    bundle = server.addDevice("dev-clock", ["gauge-1"]);
    await server.start();
  });

  afterAll(async () => {
    vi.restoreAllMocks();
    await server?.dispose();
  });

  async function run(store: MemoryQueueStore, base: number): Promise<void> {
    const client = new EdgeClient({
      url: server.edgeUrl,
      appKey: bundle.appKey,
      tls: { ca: bundle.ca, cert: bundle.cert, key: bundle.key },
      queue: { store },
    });
    const gauge = client.thing("gauge-1");
    for (let i = 0; i < 5; i++) gauge.property(`level-${i}`, { type: "integer", push: "always" });
    await client.connect();
    for (let i = 0; i < 5; i++) gauge.set(`level-${i}`, base + i);
    await client.flush();
    await client.close();
  }

  it("delivery - a device restarted with its clock set back a day and a fresh store has its data applied", async () => {
    const before = new MemoryQueueStore();
    await run(before, 100);
    const realNow = Date.now.bind(Date);
    vi.spyOn(Date, "now").mockImplementation(() => realNow() - 86_400_000);
    const after = new MemoryQueueStore();
    try {
      await run(after, 200);
    } finally {
      vi.restoreAllMocks();
    }
    const r = await operatorRequest(
      server.operatorUrl,
      server.caPem,
      server.adminToken,
      "GET",
      "/api/things/gauge-1/properties",
    );
    expect(r.status).toBe(200);
    const values = (r.body.properties as Array<{ name: string; value: unknown }>)
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((p) => p.value);
    expect(values).toEqual([200, 201, 202, 203, 204]);
    expect(appliedRuns(server.dataDir, "dev-clock", before.epoch)).toEqual([[1, 5]]);
    expect(appliedRuns(server.dataDir, "dev-clock", after.epoch)).toEqual([[1, 5]]);
  });
});
