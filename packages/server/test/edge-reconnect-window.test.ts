import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FleetSize, MAX_RECONNECT_WINDOW_MS, reconnectWindowMs } from "../src/edge/reconnect-window.js";
import {
  connectDevice,
  makePki,
  type TestDevice,
  type TestPki,
  type TestServer,
  startTestServer,
} from "./edge-harness.js";

describe("reconnect window", () => {
  it("edge - the window is the time the devices need at the rate, none under a second, capped", () => {
    expect(reconnectWindowMs(199, 200)).toBe(0);
    expect(reconnectWindowMs(200, 200)).toBe(1_000);
    expect(reconnectWindowMs(10_000, 200)).toBe(50_000);
    expect(reconnectWindowMs(10_000_000, 1)).toBe(MAX_RECONNECT_WINDOW_MS);
    expect(reconnectWindowMs(10_000, 0)).toBe(0);
    expect(reconnectWindowMs(0, 200)).toBe(0);
  });
});

describe("fleet size for the reconnect window", () => {
  it("edge - the registered fleet counts when larger than the devices present, recounted at most once a minute", async () => {
    let now = 0;
    let registered = 10_000;
    let counts = 0;
    const errors: unknown[] = [];
    const fleet = new FleetSize(
      async () => {
        counts += 1;
        if (registered < 0) throw new Error("registry unavailable");
        return registered;
      },
      (err) => errors.push(err),
      () => now,
    );
    expect(fleet.estimate(3)).toBe(3); // the first count is still running
    await Promise.resolve();
    expect(fleet.estimate(3)).toBe(10_000);
    expect(fleet.estimate(12_000)).toBe(12_000);
    registered = 20_000;
    now = 59_999;
    fleet.estimate(3);
    await Promise.resolve();
    expect(counts).toBe(1);
    expect(fleet.estimate(3)).toBe(10_000);
    now = 60_000;
    fleet.estimate(3);
    await Promise.resolve();
    expect(counts).toBe(2);
    expect(fleet.estimate(3)).toBe(20_000);
    registered = -1;
    now = 120_000;
    fleet.estimate(3);
    await new Promise((r) => setImmediate(r));
    expect(errors).toHaveLength(1);
    expect(fleet.estimate(3)).toBe(20_000);
  });
});

describe("edge - AuthResult.reconnect_window_ms", () => {
  let pki: TestPki;
  let ts: TestServer;
  const devices: TestDevice[] = [];

  beforeAll(async () => {
    pki = makePki(["dev-1", "dev-2"]);
    ts = await startTestServer(pki, { edgeExtra: { reconnectRatePerSecond: 1 } });
  });
  afterAll(async () => {
    await Promise.all(devices.map((d) => d.close()));
    await ts?.close();
  });

  it("edge - each login is told the window of the devices connected and waiting at the configured rate", async () => {
    const windows: number[] = [];
    for (const id of ["dev-1", "dev-2"]) {
      const device = await connectDevice(ts.server.edgeUrl, pki.caPem, pki.devices[id]);
      devices.push(device);
      await device.hello();
      const auth = await device.auth(ts.keys[id]!);
      expect(auth.authResult?.status).toBe(200);
      windows.push(auth.authResult?.reconnectWindowMs ?? 0);
    }
    // One device per second: the first login sees itself (the fleet is still being counted), the
    // second the two registered devices.
    expect(windows).toEqual([1_000, 2_000]);
  });
});
