import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { appliedRuns } from "../helpers/delivery-record.js";
import { ems, EmsProcess } from "../helpers/ems-process.js";
import { ServerProcess } from "../helpers/server-process.js";
import { type EventStream, openEventStream } from "../helpers/sse.js";
import { waitUntil } from "../helpers/wait.js";

const TOTAL = 10_000;
const BATCH = 500;

describe("ems - crash while offline", () => {
  let server: ServerProcess;
  let dir: string;
  let daemon: EmsProcess | undefined;
  let events: EventStream | undefined;
  let bundleDir = "";

  beforeAll(async () => {
    server = ServerProcess.init();
    await server.start();
    const bundle = server.addDevice("ems-crash", ["meter-9"]);
    bundleDir = bundle.dir;
    dir = join(server.dataDir, "..", "ems");
    ems(["init", "--dir", dir, "--bundle", bundle.dir, "--url", server.edgeUrl]);
    const things = [{ name: "meter-9", properties: [{ name: "count", type: "integer", push: "always" }] }];
    ems(["config", "set", "things", JSON.stringify(things), "--dir", dir]);
    await server.stop();
  });

  afterAll(async () => {
    events?.close();
    await daemon?.kill();
    await server?.dispose();
  });

  it("ems - SIGKILL with 10,000 queued updates, restart: the server holds every one exactly once, in order", async () => {
    daemon = await EmsProcess.start(dir);
    for (let start = 1; start <= TOTAL; start += BATCH) {
      const updates = Array.from({ length: BATCH }, (_, i) => ({ name: "count", value: start + i }));
      const r = await daemon.request("PUT", "/things/meter-9/properties", { updates });
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ queued: BATCH });
    }
    // Every 200 above promised the values are on disk: kill without any chance to flush.
    await daemon.kill("SIGKILL");

    await server.start();
    events = await openEventStream(server.operatorUrl, server.caPem, server.adminToken, "/api/events?thing=meter-9");
    daemon = await EmsProcess.start(dir);
    await waitUntil(
      "all values at the server",
      () => events!.received.filter((e) => e.name === "count").length >= TOTAL,
      {
        timeoutMs: 90_000,
        intervalMs: 200,
      },
    );
    const values = events.received.filter((e) => e.name === "count").map((e) => e.value as number);
    const expected = Array.from({ length: TOTAL }, (_, i) => i + 1);
    expect(values.length).toBe(TOTAL);
    expect(values.every((v, i) => v === expected[i])).toBe(true);
    const epoch = (JSON.parse(readFileSync(join(dir, "queue", "epoch"), "utf8")) as { epoch: number }).epoch;
    expect(appliedRuns(server.dataDir, "ems-crash", epoch)).toEqual([[1, TOTAL]]);
    await waitUntil("queue drained", async () => (await daemon!.request("GET", "/status")).body.queue.items === 0);
  }, 120_000);

  it("ems - a full durable queue answers 507, keeps what it holds, and reports the overflow in status and metrics", async () => {
    await daemon?.kill();
    const small = join(server.dataDir, "..", "ems-small");
    ems(["init", "--dir", small, "--bundle", bundleDir, "--url", "wss://127.0.0.1:1/"]);
    ems([
      "config",
      "set",
      "things",
      JSON.stringify([{ name: "meter-9", properties: [{ name: "count", push: "always" }] }]),
      "--dir",
      small,
    ]);
    ems(["config", "set", "queue.maxBytes", "65536", "--dir", small]);
    daemon = await EmsProcess.start(small);
    let accepted = 0;
    let last = 0;
    for (let i = 1; i <= 5_000; i++) {
      const r = await daemon.request("PUT", "/things/meter-9/properties/count", { value: i });
      last = r.status;
      if (r.status !== 200) {
        expect(r.body.error.code).toBe("OUTPOST_QUEUE_OVERFLOW");
        break;
      }
      accepted += 1;
    }
    expect(last).toBe(507);
    const status = (await daemon.request("GET", "/status")).body;
    expect(status.queue.overflows).toBeGreaterThanOrEqual(1);
    expect(status.queue.items).toBe(accepted);
    expect(status.queue.bytes).toBeLessThanOrEqual(65536);
    expect((await daemon.request("GET", "/metrics")).body).toMatch(
      /^outpost_ems_queue_overflows_total\{identity="default"\} [1-9]/m,
    );
    expect(daemon.logs.some((l) => l.msg === "durable queue full: values refused")).toBe(true);
  }, 60_000);
});
