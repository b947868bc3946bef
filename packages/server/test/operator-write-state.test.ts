import { request as httpsRequest } from "node:https";
import { type Envelope, fromWireValue } from "@outpost/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  makePki,
  type OperatorReply,
  operatorRequest,
  readyDevice,
  startTestServer,
  type TestDevice,
  type TestPki,
  type TestServer,
} from "./edge-harness.js";

let pki: TestPki;
let ts: TestServer;

beforeAll(async () => {
  pki = makePki(["dev-1", "dev-2"]);
  ts = await startTestServer(pki);
});

afterAll(async () => {
  await ts?.close();
});

function api(method: string, path: string, body?: string): Promise<OperatorReply> {
  return operatorRequest(ts, pki, method, path, { token: ts.adminToken, ...(body !== undefined && { body }) });
}

/** Accepts every write except of `readonly`, as a device would; answers nothing else. */
function acceptWrites(device: TestDevice): void {
  void (async () => {
    for (;;) {
      const env: Envelope | undefined = await device.next();
      if (!env) return;
      if (env.body !== "propertyWrite") continue;
      const items = (env.propertyWrite?.values ?? []).map((v) =>
        v.name === "readonly"
          ? { key: v.name, status: 403, message: "read-only property" }
          : { key: v.name ?? "", status: 200, message: String(fromWireValue(v.value)) },
      );
      device.channel.respond(env.requestId, { items });
    }
  })();
}

/** Opens /api/events?thing=, runs `onOpen` once connected, resolves with the first change frame's data. */
function firstChange(thing: string, onOpen: () => Promise<void>): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(`${ts.server.operatorUrl}/api/events?thing=${thing}`, {
      ca: pki.caPem,
      headers: { authorization: `Bearer ${ts.adminToken}` },
    });
    req.on("error", reject);
    req.on("response", (res) => {
      let buffer = "";
      res.on("data", (chunk: Buffer) => {
        buffer += chunk.toString("utf8");
        const frames = buffer.split("\n\n");
        buffer = frames.pop() ?? "";
        for (const f of frames) {
          if (f === ": connected") onOpen().catch(reject);
          if (!f.startsWith("event: property")) continue;
          req.destroy();
          resolve(JSON.parse(f.split("data: ")[1]!) as Record<string, unknown>);
          return;
        }
      });
    });
    req.end();
  });
}

describe("operator writes and the server's last value", () => {
  it("a confirmed write is published and kept as the last value; a refused one is neither", async () => {
    const device = await readyDevice(ts, pki, "dev-1", ["pump-1"]);
    acceptWrites(device);
    const before = Date.now();
    const change = await firstChange("pump-1", async () => {
      const refused = await api("PUT", "/api/things/pump-1/properties/readonly", '{"value": 5}');
      expect(refused.status).toBe(403);
      const ok = await api("PUT", "/api/things/pump-1/properties/setpoint", '{"value": 30}');
      expect(ok.status).toBe(200);
    });
    expect(change).toMatchObject({ thing: "pump-1", deviceId: "dev-1", name: "setpoint", value: 30, quality: "good" });
    expect(change.timestampMs as number).toBeGreaterThanOrEqual(before);

    await device.close();
    for (let i = 0; i < 200 && (await ts.server.things.listThings()).find((t) => t.name === "pump-1")?.online; i++) {
      await new Promise((r) => setImmediate(r));
    }
    const read = await api("GET", "/api/things/pump-1/properties");
    expect(read.status).toBe(200);
    expect(read.json).toMatchObject({
      live: false,
      properties: [{ name: "setpoint", value: 30, quality: "good", timestampMs: change.timestampMs }],
    });
    expect((read.json as { properties: unknown[] }).properties).toHaveLength(1);
  });
});
