import { EdgeClient, type OutpostValue } from "@outpost/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { operatorRequest } from "../helpers/operator-client.js";
import { type DeviceBundle, ServerProcess } from "../helpers/server-process.js";
import { type EventStream, openEventStream } from "../helpers/sse.js";
import { waitUntil } from "../helpers/wait.js";

describe("desired state for an offline device, over real TLS with a real server process", () => {
  let server: ServerProcess;
  let bundle: DeviceBundle;
  let client: EdgeClient | undefined;
  let stream: EventStream | undefined;
  const speedWrites: OutpostValue[] = [];
  const modeWrites: OutpostValue[] = [];

  beforeAll(async () => {
    server = ServerProcess.init();
    bundle = server.addDevice("dev-desired", ["pump-d"]);
    await server.start();
  });

  afterAll(async () => {
    stream?.close();
    await client?.close({ timeoutMs: 2000 });
    await server?.dispose();
  });

  const api = (method: string, path: string, body?: unknown) =>
    operatorRequest(server.operatorUrl, server.caPem, server.adminToken, method, path, body);

  it("desired - held while offline (202), survives a restart, applied on reconnect with every outcome reported", async () => {
    const first = await api("PUT", "/api/things/pump-d/properties/speed", { value: 7 });
    expect(first.status).toBe(202);
    expect(first.body).toMatchObject({ state: "desired", thing: "pump-d", name: "speed", value: 7, setBy: "admin" });
    expect(first.body.expiresAt - first.body.setAt).toBe(24 * 60 * 60 * 1000);
    // The last write wins: the device only ever sees 8.
    expect((await api("PUT", "/api/things/pump-d/properties/speed", { value: 8 })).status).toBe(202);
    // Not writable on the device: refused when applied.
    expect((await api("PUT", "/api/things/pump-d/properties/label", { value: "south" })).status).toBe(202);

    await server.stop();
    await server.start();

    const afterRestart = await api("GET", "/api/things/pump-d/properties");
    expect(afterRestart.status).toBe(200);
    expect(afterRestart.body.live).toBe(false);
    expect(afterRestart.body.desired.map((d: { name: string; value: unknown }) => [d.name, d.value])).toEqual([
      ["speed", 8],
      ["label", "south"],
    ]);

    stream = await openEventStream(server.operatorUrl, server.caPem, server.adminToken, "/api/events?thing=pump-d");
    const short = await api("PUT", "/api/things/pump-d/properties/mode", { value: "eco", expiresInMs: 200 });
    expect(short.status).toBe(202);
    expect(short.body.expiresAt - short.body.setAt).toBe(200);
    await new Promise((r) => setTimeout(r, 400));

    client = new EdgeClient({
      url: server.edgeUrl,
      appKey: bundle.appKey,
      tls: { ca: bundle.ca, cert: bundle.cert, key: bundle.key },
      reconnect: { initialDelayMs: 50, maxDelayMs: 500 },
    });
    const pump = client.thing("pump-d");
    pump.property("speed", { type: "integer", writable: true, initial: 1, onWrite: (v) => void speedWrites.push(v) });
    pump.property("label", { type: "string", writable: false, initial: "north" });
    pump.property("mode", { type: "string", writable: true, initial: "auto", onWrite: (v) => void modeWrites.push(v) });
    await client.connect();

    const desired = (name: string, outcome: string) => (e: Record<string, unknown>) =>
      e.type === "desired" && e.name === name && e.outcome === outcome;
    const applied = await stream.next(desired("speed", "applied"));
    expect(applied).toMatchObject({ thing: "pump-d", deviceId: "dev-desired", value: 8, setBy: "admin" });
    const refused = await stream.next(desired("label", "refused"));
    expect(refused).toMatchObject({ value: "south", code: "OUTPOST_FORBIDDEN" });
    const expired = await stream.next(desired("mode", "expired"));
    expect(expired).toMatchObject({ value: "eco" });
    await stream.next((e) => e.type === "property" && e.name === "speed" && e.value === 8);

    expect(speedWrites).toEqual([8]);
    expect(modeWrites).toEqual([]);
    expect(pump.get("speed")).toBe(8);
    expect(pump.get("label")).toBe("north");
    expect(pump.get("mode")).toBe("auto");

    const now = await api("GET", "/api/things/pump-d/properties");
    expect(now.body.desired).toEqual([]);
    expect(now.body.properties.find((p: { name: string }) => p.name === "speed")?.value).toBe(8);

    const outcomes = await waitUntil("desired outcomes in the audit log", () => {
      const records = server.auditRecords().filter((r) => r.type === "property.desired");
      return records.length >= 7 ? records : undefined;
    });
    expect(
      outcomes.map((r) => [
        r.target,
        (r.details as { outcome: string }).outcome,
        r.outcome,
        ...(r.code !== undefined ? [r.code] : []),
      ]),
    ).toEqual([
      ["thing:pump-d/property:speed", "held", "success"],
      ["thing:pump-d/property:speed", "held", "success"],
      ["thing:pump-d/property:label", "held", "success"],
      ["thing:pump-d/property:mode", "held", "success"],
      // In write order when the device binds the Thing.
      ["thing:pump-d/property:speed", "applied", "success"],
      ["thing:pump-d/property:label", "refused", "failure", "OUTPOST_FORBIDDEN"],
      ["thing:pump-d/property:mode", "expired", "failure", "OUTPOST_TIMEOUT"],
    ]);
  });

  it("desired - the server's last value after reconnect is the applied one, also once the device is gone", async () => {
    await client?.close({ timeoutMs: 2000 });
    client = undefined;
    const read = await waitUntil("an offline read", async () => {
      const r = await api("GET", "/api/things/pump-d/properties?name=speed");
      return r.body?.live === false ? r.body : undefined;
    });
    expect(read.properties).toMatchObject([{ name: "speed", value: 8 }]);
  });
});
