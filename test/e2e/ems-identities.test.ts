import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { connect, createServer, type Server } from "node:net";
import { join } from "node:path";
import { OperatorClient } from "@outpost/operator";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { appliedRuns } from "../helpers/delivery-record.js";
import { ems, EmsProcess, runEms } from "../helpers/ems-process.js";
import { operatorRequest } from "../helpers/operator-client.js";
import { type DeviceBundle, ServerProcess } from "../helpers/server-process.js";
import { type EventStream, openEventStream } from "../helpers/sse.js";
import { waitUntil } from "../helpers/wait.js";

const QUEUED = 300;

const thing = (name: string) => [
  { name, properties: [{ name: "level", type: "integer", push: "always" }], services: ["ping"] },
];

describe("ems - several device identities in one daemon", () => {
  let server: ServerProcess;
  let a: DeviceBundle;
  let b: DeviceBundle;
  let dir: string;
  let daemon: EmsProcess | undefined;
  let echo: Server;
  let data = "";
  const streams: EventStream[] = [];

  const op = (method: string, path: string, body?: unknown) =>
    operatorRequest(server.operatorUrl, server.caPem, server.adminToken, method, path, body);
  const serverLevel = async (t: string): Promise<unknown> => {
    const r = await op("GET", `/api/things/${t}/properties`);
    return (r.body.properties as Array<{ name: string; value: unknown }> | undefined)?.find((p) => p.name === "level")
      ?.value;
  };
  const epochOf = (queueDir: string): number =>
    (JSON.parse(readFileSync(join(queueDir, "epoch"), "utf8")) as { epoch: number }).epoch;
  const identityStatus = async (name: string) =>
    ((await daemon!.request("GET", "/status")).body.identities as Array<Record<string, any>>).find(
      (i) => i.name === name,
    );

  beforeAll(async () => {
    echo = createServer({ allowHalfOpen: true }, (s) => {
      s.on("error", () => undefined);
      s.pipe(s);
    });
    await new Promise<void>((r) => echo.listen(0, "127.0.0.1", r));
    server = ServerProcess.init();
    const configPath = join(server.dataDir, "config.json");
    const config = JSON.parse(readFileSync(configPath, "utf8"));
    config.edge.revalidateIntervalMs = 300;
    writeFileSync(configPath, JSON.stringify(config, null, 2));
    await server.start();
    a = server.addDevice("ems-id-a", ["tank-a"]);
    b = server.addDevice("ems-id-b", ["tank-b"]);
    dir = join(server.dataDir, "..", "ems");
    ems(["init", "--dir", dir, "--bundle", a.dir, "--url", server.edgeUrl]);
    ems(["init", "--dir", dir, "--bundle", b.dir, "--url", server.edgeUrl, "--identity", "meter"]);
    ems(["config", "set", "things", JSON.stringify(thing("tank-a")), "--dir", dir]);
    ems(["config", "set", "things", JSON.stringify(thing("tank-b")), "--dir", dir, "--identity", "meter"]);
    const echoPort = (echo.address() as { port: number }).port;
    const meter = ["--dir", dir, "--identity", "meter"];
    ems(["config", "set", "tunnels.targets", JSON.stringify({ echo: `127.0.0.1:${echoPort}` }), ...meter]);
    data = join(server.dataDir, "..", "meter-data");
    mkdirSync(data);
    writeFileSync(join(data, "reading.csv"), "t,kwh\n1,42\n");
    ems(["config", "set", "files.virtualDirs", JSON.stringify({ data }), ...meter]);
  }, 120_000);

  afterAll(async () => {
    for (const s of streams) s.close();
    await daemon?.kill();
    await server?.dispose();
    echo?.close();
  });

  it("ems identities - a property set for a Thing of each identity lands on that identity's device", async () => {
    const list = JSON.parse(ems(["identities", "list", "--json", "--dir", dir])) as Array<Record<string, unknown>>;
    expect(list.map((i) => [i.name, i.deviceId, i.things])).toEqual([
      ["default", "ems-id-a", ["tank-a"]],
      ["meter", "ems-id-b", ["tank-b"]],
    ]);
    daemon = await EmsProcess.start(dir);
    await waitUntil("both identities connected", async () => {
      const s = (await daemon!.request("GET", "/status")).body;
      return s.identities?.every((i: { connection: { state: string } }) => i.connection.state === "connected");
    });
    expect((await daemon.request("PUT", "/things/tank-a/properties/level", { value: 1 })).body).toEqual({
      queued: true,
    });
    expect((await daemon.request("PUT", "/things/tank-b/properties/level", { value: 2 })).body).toEqual({
      queued: true,
    });
    await waitUntil(
      "both values at the server",
      async () => (await serverLevel("tank-a")) === 1 && (await serverLevel("tank-b")) === 2,
    );
    // The server's delivery record is per device: each value came over its own identity's connection.
    await waitUntil("both acknowledged", async () => (await identityStatus("meter"))?.queue.items === 0);
    expect(appliedRuns(server.dataDir, "ems-id-a", epochOf(join(dir, "queue")))).toEqual([[1, 1]]);
    expect(appliedRuns(server.dataDir, "ems-id-b", epochOf(join(dir, "identities", "meter", "queue")))).toEqual([
      [1, 1],
    ]);

    // A service call for each Thing reaches the local process through the identity that owns it.
    for (const [t, answer] of [
      ["tank-a", "pong-a"],
      ["tank-b", "pong-b"],
    ] as const) {
      const poll = daemon.request("GET", `/things/${t}/services/ping/calls?timeout=20`);
      const call = op("POST", `/api/things/${t}/services/ping?timeoutMs=20000`, {});
      const taken = await poll;
      expect(taken.body).toMatchObject({ thing: t, service: "ping" });
      expect((await daemon.request("POST", `/calls/${taken.body.id}`, { result: answer })).status).toBe(204);
      expect((await call).body.result).toBe(answer);
    }

    const status = (await daemon.request("GET", "/status")).body;
    expect(status.deviceId).toBe("ems-id-a");
    expect(status.identities.map((i: Record<string, unknown>) => [i.name, i.deviceId, i.things])).toEqual([
      ["default", "ems-id-a", ["tank-a"]],
      ["meter", "ems-id-b", ["tank-b"]],
    ]);
    const metrics = (await daemon.request("GET", "/metrics")).body as string;
    expect(metrics).toMatch(/^outpost_ems_connected\{identity="default"\} 1$/m);
    expect(metrics).toMatch(/^outpost_ems_connected\{identity="meter"\} 1$/m);
    expect(metrics).toMatch(/^outpost_ems_property_sets_total\{identity="meter"\} 1$/m);
    expect(metrics).toMatch(/^outpost_ems_queue_bytes\{identity="meter"\} \d+$/m);
    const text = ems(["status", "--dir", dir]);
    expect(text).toMatch(/identity +meter\ndevice +ems-id-b\nconnection +connected/);

    // Each identity has its own audit log, with its own device as the actor.
    const first = (f: string) => JSON.parse(readFileSync(f, "utf8").split("\n")[0]!);
    expect(first(join(dir, "audit.log"))).toMatchObject({ type: "login.success", actor: "device:ems-id-a" });
    expect(first(join(dir, "identities", "meter", "audit.log"))).toMatchObject({
      type: "login.success",
      actor: "device:ems-id-b",
    });
    expect(ems(["audit", "verify", "--dir", dir]).match(/: ok, \d+ records, chain intact/g)).toHaveLength(2);

    // Every secret of the second identity is encrypted too.
    const keyLine = b.key.split("\n").find((l) => l.length > 40 && !l.startsWith("-----"))!;
    for (const secret of [b.appKey, keyLine]) {
      const r = spawnSync("grep", ["-r", "-F", "-l", "-e", secret, dir], { encoding: "utf8" });
      expect({ secret: secret.slice(0, 6), found: r.stdout }).toEqual({ secret: secret.slice(0, 6), found: "" });
    }
    expect(ems(["config", "get", "appKey", "--identity", "meter", "--dir", dir]).trim()).toBe("<encrypted>");
  }, 120_000);

  it("ems identities - SIGKILL with updates queued for both identities, restart: each device gets its own exactly once, in order", async () => {
    await server.stop();
    await waitUntil("both identities offline", async () => {
      const s = (await daemon!.request("GET", "/status")).body;
      return s.identities.every((i: { connection: { state: string } }) => i.connection.state !== "connected");
    });
    for (const [t, base] of [
      ["tank-a", 1000],
      ["tank-b", 2000],
    ] as const) {
      const updates = Array.from({ length: QUEUED }, (_, i) => ({ name: "level", value: base + i }));
      for (let i = 0; i < QUEUED; i += 100) {
        const r = await daemon!.request("PUT", `/things/${t}/properties`, { updates: updates.slice(i, i + 100) });
        expect(r.body).toEqual({ queued: 100 });
      }
    }
    await daemon!.kill("SIGKILL");

    await server.start();
    const events = {
      "tank-a": await openEventStream(server.operatorUrl, server.caPem, server.adminToken, "/api/events?thing=tank-a"),
      "tank-b": await openEventStream(server.operatorUrl, server.caPem, server.adminToken, "/api/events?thing=tank-b"),
    };
    streams.push(events["tank-a"], events["tank-b"]);
    daemon = await EmsProcess.start(dir);
    const levels = (t: "tank-a" | "tank-b") =>
      events[t].received.filter((e) => e.name === "level").map((e) => e.value as number);
    await waitUntil(
      "every queued value at the server",
      () => levels("tank-a").length >= QUEUED && levels("tank-b").length >= QUEUED,
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    await waitUntil("both queues drained", async () => {
      const s = (await daemon!.request("GET", "/status")).body;
      return s.identities.every((i: { queue: { items: number } }) => i.queue.items === 0);
    });
    expect(levels("tank-a")).toEqual(Array.from({ length: QUEUED }, (_, i) => 1000 + i));
    expect(levels("tank-b")).toEqual(Array.from({ length: QUEUED }, (_, i) => 2000 + i));
    expect(appliedRuns(server.dataDir, "ems-id-a", epochOf(join(dir, "queue")))).toEqual([[1, QUEUED + 1]]);
    expect(appliedRuns(server.dataDir, "ems-id-b", epochOf(join(dir, "identities", "meter", "queue")))).toEqual([
      [1, QUEUED + 1],
    ]);
  }, 150_000);

  it("ems identities - tunnel approvals and file transfers go through the identity of the device asked", async () => {
    await waitUntil("both identities connected", async () => {
      const s = (await daemon!.request("GET", "/status")).body;
      return s.identities.every((i: { connection: { state: string } }) => i.connection.state === "connected");
    });
    const operator = new OperatorClient({ url: server.operatorUrl, token: server.adminToken, ca: server.caPem });
    const opening = operator.openTunnel({ device: "ems-id-b", target: "echo", deviceCa: server.caPem });
    const pending = await waitUntil(
      "a pending request",
      async () => (await daemon!.request("GET", "/tunnels/pending")).body.pending[0] as Record<string, string>,
      { timeoutMs: 60_000 },
    );
    expect(pending).toMatchObject({ target: "echo", identity: "meter" });
    expect(ems(["tunnels", "pending", "--dir", dir])).toContain("identity meter");
    ems(["tunnels", "approve", pending.id!, "--dir", dir]);
    const tunnel = await opening;
    const local = await tunnel.listen(0);
    const socket = connect({
      port: (local.address() as { port: number }).port,
      host: "127.0.0.1",
      allowHalfOpen: true,
    });
    const chunks: Buffer[] = [];
    socket.on("data", (c: Buffer) => chunks.push(c));
    socket.end("through the meter identity");
    await new Promise((r) => socket.once("close", r));
    expect(Buffer.concat(chunks).toString()).toBe("through the meter identity");
    local.close();
    await tunnel.close();
    const meterAudit = join(dir, "identities", "meter", "audit.log");
    await waitUntil("tunnel audited", () => readFileSync(meterAudit, "utf8").includes('"tunnel.session"'));
    expect(readFileSync(join(dir, "audit.log"), "utf8")).not.toContain('"tunnel.session"');

    // The default identity has no virtual directories; the meter identity's upload lands in its device's area.
    const none = await daemon!.request("POST", "/files/uploads?wait=true", { from: "data/reading.csv", to: "r.csv" });
    expect(none.status).toBe(404);
    const up = await daemon!.request("POST", "/files/uploads?wait=true", {
      from: "data/reading.csv",
      to: "r.csv",
      identity: "meter",
    });
    expect(up.status).toBe(200);
    expect(up.body).toMatchObject({ identity: "meter", state: "completed" });
    const stored = await new Promise<string>((resolve, reject) => {
      httpsRequest(
        `${server.operatorUrl}/api/devices/ems-id-b/repository/r.csv`,
        { ca: server.caPem, headers: { authorization: `Bearer ${server.adminToken}` } },
        (res) => {
          let text = "";
          res.on("data", (c: Buffer) => (text += c.toString()));
          res.on("end", () => resolve(`${res.statusCode} ${text}`));
        },
      )
        .on("error", reject)
        .end();
    });
    expect(stored).toBe("200 t,kwh\n1,42\n");
    const transfers = (await daemon!.request("GET", "/files/transfers")).body.transfers as Array<{ identity: string }>;
    expect(transfers.map((t) => t.identity)).toEqual(["meter"]);
  }, 120_000);

  it("ems identities - revoking one identity's key cuts only that identity's connection", async () => {
    await waitUntil("both identities connected", async () => {
      const s = (await daemon!.request("GET", "/status")).body;
      return s.identities.every((i: { connection: { state: string } }) => i.connection.state === "connected");
    });
    const before = await identityStatus("default");
    server.cli(["key", "revoke", b.appKey.slice(4, 20)]);
    const cut = await waitUntil(
      "the meter identity to be cut",
      async () => {
        const s = await identityStatus("meter");
        return s?.connection.state === "disconnected" && s.connection.error ? s : undefined;
      },
      { timeoutMs: 20_000 },
    );
    expect(cut.connection.error.code).toBe("OUTPOST_UNAUTHORIZED");
    expect((await daemon!.request("PUT", "/things/tank-a/properties/level", { value: 7 })).status).toBe(200);
    expect((await daemon!.request("PUT", "/things/tank-b/properties/level", { value: 8 })).status).toBe(200);
    await waitUntil("the default identity's value at the server", async () => (await serverLevel("tank-a")) === 7);
    const after = await identityStatus("default");
    expect(after?.connection).toEqual(before?.connection);
    expect((await identityStatus("meter"))?.queue.items).toBe(1);
    expect(daemon!.logs.some((l) => l.identity === "meter" && l.msg === "disconnected")).toBe(true);
    expect(daemon!.logs.some((l) => l.identity === "default" && l.msg === "disconnected")).toBe(false);
  }, 60_000);

  it("ems identities - a Thing claimed by two identities is refused with exit code 2", async () => {
    await daemon!.kill("SIGTERM");
    const set = runEms(["config", "set", "things", JSON.stringify(thing("tank-b")), "--dir", dir]);
    expect(set.status).toBe(2);
    expect(set.stderr).toContain('Thing "tank-b" is claimed by identities "default" and "meter"');
    expect(ems(["config", "get", "things", "--dir", dir])).toContain("tank-a");

    // The same claim written into the file by hand stops the start.
    const file = join(dir, "config.json");
    const original = readFileSync(file, "utf8");
    const edited = JSON.parse(original);
    edited.identities.meter.things.push({ name: "tank-a" });
    writeFileSync(file, JSON.stringify(edited));
    const start = runEms(["start", "--dir", dir]);
    expect(start.status).toBe(2);
    expect(start.stderr).toContain('Thing "tank-a" is claimed by identities "default" and "meter"');
    writeFileSync(file, original);

    expect(runEms(["identities", "remove", "default", "--dir", dir]).status).toBe(2);
    ems(["identities", "remove", "meter", "--dir", dir]);
    expect(ems(["identities", "list", "--dir", dir])).not.toContain("meter");
    expect(existsSync(join(dir, "identities", "meter", "queue"))).toBe(true);
  }, 60_000);
});
