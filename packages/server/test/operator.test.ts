import { request as httpsRequest } from "node:https";
import { type Envelope, fromWireMap, fromWireValue, toWireValue } from "@outpost/protocol";
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
  ts = await startTestServer(pki, { operatorMaxBodyBytes: 1024 });
});

afterAll(async () => {
  await ts?.close();
});

function api(method: string, path: string, options: { token?: string; body?: string } = {}): Promise<OperatorReply> {
  return operatorRequest(ts, pki, method, path, options);
}

/** Answers the server's requests the way a device would, until the connection ends. */
function serve(device: TestDevice, state: Record<string, unknown>): void {
  void (async () => {
    for (;;) {
      const env: Envelope | undefined = await device.next();
      if (!env) return;
      if (env.body === "propertyWrite") {
        const items = (env.propertyWrite?.values ?? []).map((v) => {
          if (v.name === "readonly") return { key: v.name ?? "", status: 403, message: "read-only property" };
          state[v.name ?? ""] = fromWireValue(v.value);
          return { key: v.name ?? "", status: 200 };
        });
        device.channel.respond(env.requestId, { items });
      } else if (env.body === "serviceInvoke") {
        const params = fromWireMap(env.serviceInvoke?.params);
        if (env.serviceInvoke?.service === "slow") continue;
        device.channel.respond(env.requestId, { result: toWireValue({ sum: Number(params.a) + Number(params.b) }) });
      } else if (env.body === "propertyRead") {
        const values = Object.entries(state).map(([name, v]) => ({
          thing: env.propertyRead?.thing ?? "",
          name,
          value: toWireValue(v as number),
        }));
        device.channel.respond(env.requestId, { values });
      }
    }
  })();
}

describe("operator", () => {
  it("operator - health needs no token; other endpoints need a valid bearer token, failures audited", async () => {
    expect(await api("GET", "/api/health")).toEqual({ status: 200, json: { status: "ok", audit: { state: "ok" } } });
    const missing = await api("GET", "/api/things");
    expect(missing.status).toBe(401);
    expect(missing.json).toMatchObject({ error: { code: "OUTPOST_UNAUTHORIZED" } });
    const wrong = await api("GET", "/api/things", { token: `${ts.adminToken}x` });
    expect(wrong.status).toBe(401);
    expect(ts.audit.ofType("operator.login.failure").length).toBeGreaterThanOrEqual(2);
    expect(JSON.stringify(ts.audit.records)).not.toContain(ts.adminToken);
  });

  it("operator - property write reaches the device and its answer comes back", async () => {
    const state: Record<string, unknown> = {};
    const device = await readyDevice(ts, pki, "dev-1", ["pump-1"]);
    serve(device, state);
    const ok = await api("PUT", "/api/things/pump-1/properties/speed", { token: ts.adminToken, body: '{"value": 7}' });
    expect(ok).toEqual({ status: 200, json: { state: "applied", thing: "pump-1", name: "speed", value: 7 } });
    expect(state.speed).toBe(7);
    const refused = await api("PUT", "/api/things/pump-1/properties/readonly", {
      token: ts.adminToken,
      body: '{"value": 1}',
    });
    expect(refused.status).toBe(403);
    expect(refused.json).toMatchObject({ error: { code: "OUTPOST_FORBIDDEN", message: "read-only property" } });
    const read = await api("GET", "/api/things/pump-1/properties", { token: ts.adminToken });
    expect(read.json).toMatchObject({ thing: "pump-1", live: true, properties: [{ name: "speed", value: 7 }] });
    expect(ts.audit.ofType("property.write").map((r) => r.outcome)).toEqual(["success", "failure"]);
    await device.close();
  });

  it("operator - service invocation returns the device's result; a silent device times out with 504", async () => {
    const device = await readyDevice(ts, pki, "dev-1", ["pump-1"]);
    serve(device, {});
    const sum = await api("POST", "/api/things/pump-1/services/add", {
      token: ts.adminToken,
      body: '{"a": 2, "b": 3}',
    });
    expect(sum).toEqual({ status: 200, json: { result: { sum: 5 } } });
    const slow = await api("POST", "/api/things/pump-1/services/slow?timeoutMs=100", {
      token: ts.adminToken,
      body: "{}",
    });
    expect(slow.status).toBe(504);
    expect(slow.json).toMatchObject({ error: { code: "OUTPOST_TIMEOUT" } });
    await device.close();
  });

  it("operator - offline Thing: a write is held as desired state (202), reads show it beside the last kept values, DELETE clears it", async () => {
    const device = await readyDevice(ts, pki, "dev-2", ["pump-2"]);
    await device.channel.request({
      propertyUpdate: { values: [{ thing: "pump-2", name: "level", value: toWireValue(3), timestampMs: 77 }] },
    });
    await device.close();
    for (let i = 0; i < 200 && (await ts.server.things.listThings()).find((t) => t.name === "pump-2")?.online; i++) {
      await new Promise((r) => setImmediate(r));
    }
    const write = await api("PUT", "/api/things/pump-2/properties/level", {
      token: ts.adminToken,
      body: '{"value": 1}',
    });
    expect(write.status).toBe(202);
    expect(write.json).toMatchObject({ state: "desired", thing: "pump-2", name: "level", value: 1, setBy: "alice" });
    const read = await api("GET", "/api/things/pump-2/properties", { token: ts.adminToken });
    expect(read).toMatchObject({
      status: 200,
      json: {
        live: false,
        properties: [{ name: "level", value: 3, timestampMs: 77 }],
        desired: [{ name: "level", value: 1, setBy: "alice" }],
      },
    });
    const cleared = await api("DELETE", "/api/things/pump-2/properties/level/desired", { token: ts.adminToken });
    expect(cleared).toEqual({ status: 200, json: { thing: "pump-2", name: "level", cleared: true } });
    const again = await api("DELETE", "/api/things/pump-2/properties/level/desired", { token: ts.adminToken });
    expect(again.status).toBe(404);
  });

  it("operator - permissions: viewer without grants is 403 and denied audited; unknown Thing 404", async () => {
    const devices = await api("GET", "/api/devices", { token: ts.viewerToken });
    expect(devices.status).toBe(403);
    const things = await api("GET", "/api/things", { token: ts.viewerToken });
    expect(things).toEqual({ status: 200, json: { things: [] } });
    const read = await api("GET", "/api/things/pump-1/properties", { token: ts.viewerToken });
    expect(read.status).toBe(403);
    expect(ts.audit.ofType("denied").some((r) => r.actor === "operator:victor")).toBe(true);
    ts.registry.grant({ kind: "operator", id: "victor" }, "pump-2", "property.read");
    const granted = await api("GET", "/api/things/pump-2/properties", { token: ts.viewerToken });
    expect(granted.status).toBe(200);
    const unknown = await api("GET", "/api/things/nope/properties", { token: ts.adminToken });
    expect(unknown.status).toBe(404);
    const admin = await api("GET", "/api/devices", { token: ts.adminToken });
    expect((admin.json as { devices: { id: string }[] }).devices.map((d) => d.id).sort()).toEqual(["dev-1", "dev-2"]);
  });

  it("operator - bad bodies: invalid JSON 400, oversized 413, unknown endpoint 404, wrong method 405", async () => {
    const token = ts.adminToken;
    expect((await api("PUT", "/api/things/pump-1/properties/x", { token, body: "{nope" })).status).toBe(400);
    expect((await api("PUT", "/api/things/pump-1/properties/x", { token, body: "{}" })).status).toBe(400);
    const big = JSON.stringify({ value: "x".repeat(2048) });
    const tooLarge = await api("PUT", "/api/things/pump-1/properties/x", { token, body: big });
    expect(tooLarge.status).toBe(413);
    expect(tooLarge.json).toMatchObject({ error: { code: "OUTPOST_PAYLOAD_TOO_LARGE" } });
    expect((await api("GET", "/api/nothing", { token })).status).toBe(404);
    expect((await api("DELETE", "/api/things", { token })).status).toBe(405);
  });

  it("operator - the event stream delivers property changes and events of the requested Thing", async () => {
    const device = await readyDevice(ts, pki, "dev-1", ["pump-1"]);
    const received: string[] = [];
    const req = httpsRequest(`${ts.server.operatorUrl}/api/events?thing=pump-1`, {
      ca: pki.caPem,
      headers: { authorization: `Bearer ${ts.adminToken}` },
    });
    const acks: Promise<unknown>[] = [];
    const done = new Promise<void>((resolve, reject) => {
      req.on("error", reject);
      req.on("response", (res) => {
        let buffer = "";
        res.on("data", (chunk: Buffer) => {
          buffer += chunk.toString("utf8");
          if (buffer.includes(": connected")) {
            buffer = buffer.replace(": connected\n\n", "");
            acks.push(
              device.channel.request({
                propertyUpdate: { values: [{ thing: "pump-1", name: "temp", value: toWireValue(21.5) }] },
              }),
              device.channel.request({ event: { thing: "pump-1", name: "alarm", data: { level: toWireValue(2) } } }),
            );
          }
          const frames = buffer.split("\n\n");
          buffer = frames.pop() ?? "";
          for (const f of frames) if (f.startsWith("event:")) received.push(f);
          if (received.length >= 2) {
            req.destroy();
            resolve();
          }
        });
      });
    });
    req.end();
    await done;
    // The server acknowledges after its commit, which may come after the stream showed the change.
    await Promise.all(acks);
    expect(received[0]).toContain("event: property");
    expect(JSON.parse(received[0]!.split("data: ")[1]!)).toMatchObject({ thing: "pump-1", name: "temp", value: 21.5 });
    expect(received[1]).toContain("event: event");
    expect(JSON.parse(received[1]!.split("data: ")[1]!)).toMatchObject({ name: "alarm", data: { level: 2 } });
    await device.close();
  });
});
