import { EdgeClient } from "@outpost/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { operatorRequest } from "../helpers/operator-client.js";
import { type DeviceBundle, ServerProcess } from "../helpers/server-process.js";
import { openEventStream } from "../helpers/sse.js";
import { waitUntil } from "../helpers/wait.js";

describe("things over real TLS with a real server process", () => {
  let server: ServerProcess;
  let bundle: DeviceBundle;
  let client: EdgeClient;
  const resets: unknown[] = [];

  beforeAll(async () => {
    server = ServerProcess.init();
    bundle = server.addDevice("dev-things", ["pump-1", "pump-2"]);
    await server.start();
    client = new EdgeClient({
      url: server.edgeUrl,
      appKey: bundle.appKey,
      tls: { ca: bundle.ca, cert: bundle.cert, key: bundle.key },
      reconnect: { initialDelayMs: 50, maxDelayMs: 500 },
    });
    const pump = client.thing("pump-1");
    pump.property("temperature", { type: "number" });
    pump.property("speed", { type: "integer", writable: true, initial: 1 });
    pump.property("label", { type: "string", writable: false, initial: "north" });
    pump.service("add", (params) => Number(params.a) + Number(params.b));
    pump.service("reset", (params) => {
      resets.push(params.reason);
      return { ok: true };
    });
    pump.service("fail", () => {
      throw new Error("pump jammed");
    });
    await client.connect();
  });

  afterAll(async () => {
    await client?.close({ timeoutMs: 2000 });
    await server?.dispose();
  });

  const api = (method: string, path: string, body?: unknown) =>
    operatorRequest(server.operatorUrl, server.caPem, server.adminToken, method, path, body);

  it("things - a property update reaches the server and is readable through the operator API", async () => {
    client.thing("pump-1").set("temperature", 42.5);
    const props = await waitUntil("temperature on the server", async () => {
      const r = await api("GET", "/api/things/pump-1/properties");
      const t = r.body?.properties?.find((p: { name: string }) => p.name === "temperature");
      return t?.value === 42.5 ? r.body.properties : undefined;
    });
    const t = props.find((p: { name: string }) => p.name === "temperature");
    expect(t.quality).toBe("good");
    expect(typeof t.timestampMs).toBe("number");
  });

  it("things - an operator write reaches the device and the device's value changes", async () => {
    const r = await api("PUT", "/api/things/pump-1/properties/speed", { value: 7 });
    expect(r.status).toBe(200);
    expect(client.thing("pump-1").get("speed")).toBe(7);
  });

  it("things - a write of the wrong type is refused by the device with a typed error", async () => {
    const r = await api("PUT", "/api/things/pump-1/properties/speed", { value: "fast" });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe("OUTPOST_BAD_REQUEST");
    expect(client.thing("pump-1").get("speed")).toBe(7);
  });

  it("things - a write to a read-only property is refused", async () => {
    const r = await api("PUT", "/api/things/pump-1/properties/label", { value: "south" });
    expect(r.status).toBe(403);
    expect(client.thing("pump-1").get("label")).toBe("north");
  });

  it("things - an operator invokes a device service and gets its result", async () => {
    const r = await api("POST", "/api/things/pump-1/services/add", { a: 2, b: 3 });
    expect(r.status).toBe(200);
    expect(r.body.result).toBe(5);
    const reset = await api("POST", "/api/things/pump-1/services/reset", { reason: "e2e" });
    expect(reset.body.result).toEqual({ ok: true });
    expect(resets).toEqual(["e2e"]);
  });

  it("things - a failing device service and an unknown service give typed errors", async () => {
    const failed = await api("POST", "/api/things/pump-1/services/fail", {});
    expect(failed.status).toBe(500);
    expect(failed.body.error.code).toBe("OUTPOST_INTERNAL");
    const unknown = await api("POST", "/api/things/pump-1/services/nope", {});
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe("OUTPOST_NOT_FOUND");
  });

  it("things - the device invokes a server-side service", async () => {
    const result = (await client.invoke("pump-1", "outpost.echo", { hello: "world", n: 3 })) as Record<string, unknown>;
    expect(result.params).toEqual({ hello: "world", n: 3 });
    expect(result.deviceId).toBe("dev-things");
  });

  it("things - an unknown server-side service is a typed not-found error", async () => {
    await expect(client.invoke("pump-1", "no.such.service", {})).rejects.toMatchObject({ code: "OUTPOST_NOT_FOUND" });
  });

  it("things - a Thing declared after connecting is bound at once, without a reconnect", async () => {
    const errors: unknown[] = [];
    const off = client.on("error", (e) => errors.push(e));
    const late = client.thing("pump-2");
    late.property("pressure", { type: "number" });
    late.set("pressure", 1.5);
    await client.flush();
    off();
    const r = await api("GET", "/api/things/pump-2/properties");
    expect(r.body.properties.find((p: { name: string }) => p.name === "pressure")?.value).toBe(1.5);
    expect(errors).toEqual([]);
    expect(client.status.type).toBe("connected");
  });

  it("things - events reach operator event-stream subscribers", async () => {
    const stream = await openEventStream(
      server.operatorUrl,
      server.caPem,
      server.adminToken,
      "/api/events?thing=pump-1",
    );
    try {
      client.thing("pump-1").emit("overheat", { temperature: 99.5 });
      const ev = await stream.next((e) => e.type === "event" && e.name === "overheat");
      expect(ev.thing).toBe("pump-1");
      expect(ev.data).toEqual({ temperature: 99.5 });
    } finally {
      stream.close();
    }
  });

  it("things - property changes reach operator event-stream subscribers", async () => {
    const stream = await openEventStream(
      server.operatorUrl,
      server.caPem,
      server.adminToken,
      "/api/events?thing=pump-1",
    );
    try {
      client.thing("pump-1").set("temperature", 61.25);
      const ev = await stream.next((e) => e.type === "property" && e.name === "temperature" && e.value === 61.25);
      expect(ev.thing).toBe("pump-1");
    } finally {
      stream.close();
    }
  });
});
