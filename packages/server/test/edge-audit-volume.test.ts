import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makePki, readyDevice, startTestServer, type TestPki, type TestServer } from "./edge-harness.js";

let pki: TestPki;
let ts: TestServer;

beforeAll(async () => {
  pki = makePki(["dev-1", "dev-2"]);
  ts = await startTestServer(pki);
  for (let i = 0; i < 50; i++) ts.registry.assignThing(`other-${i}`, "dev-2");
});

afterAll(async () => {
  await ts?.close();
});

describe("edge audit", () => {
  it("a Bind of many foreign Things writes one bounded denied record, not one per Thing", async () => {
    const device = await readyDevice(ts, pki, "dev-1", []);
    const before = ts.audit.ofType("denied").length;
    const things = Array.from({ length: 50 }, (_, i) => `other-${i}`);
    const reply = await device.bind(things);
    expect(reply.response?.items?.every((item) => item.status === 403)).toBe(true);
    const denied = ts.audit.ofType("denied").slice(before);
    expect(denied).toHaveLength(1);
    expect(denied[0]?.details).toMatchObject({ action: "bind", count: 50 });
    expect((denied[0]?.details?.items as string[]).length).toBeLessThanOrEqual(20);
    await device.close();
  });
});
