import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EdgeClient } from "@outpost/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runOutpost, startOutpost } from "../helpers/outpost-cli.js";
import { type DeviceBundle, ServerProcess } from "../helpers/server-process.js";
import { waitUntil } from "../helpers/wait.js";

describe("outpost CLI against a real server process", () => {
  let server: ServerProcess;
  let bundle: DeviceBundle;
  let device: EdgeClient;
  let home: string;
  let env: Record<string, string>;
  let viewerToken: string;
  const cliOutput: string[] = [];

  const outpost = async (args: string[], extraEnv: Record<string, string> = {}, input?: string) => {
    const r = await runOutpost(args, { ...env, ...extraEnv }, input);
    cliOutput.push(r.stdout, r.stderr);
    return r;
  };

  beforeAll(async () => {
    server = ServerProcess.init();
    bundle = server.addDevice("dev-cli", ["pump-1"]);
    await server.start();
    device = new EdgeClient({
      url: server.edgeUrl,
      appKey: bundle.appKey,
      tls: { ca: bundle.ca, cert: bundle.cert, key: bundle.key },
      reconnect: { initialDelayMs: 50, maxDelayMs: 500 },
    });
    const pump = device.thing("pump-1");
    pump.property("speed", { type: "integer", writable: true, initial: 1 });
    pump.service("add", (params) => Number(params.a) + Number(params.b));
    await device.connect();
    home = mkdtempSync(join(tmpdir(), "outpost-cli-home-"));
    env = { HOME: home, OUTPOST_CONFIG_DIR: join(home, "config"), NO_COLOR: "1" };
    writeFileSync(join(home, "admin.token"), `${server.adminToken}\n`);
    viewerToken = server.cli(["operator", "add", "viewer"]).trim();
    server.cli(["grant", "viewer", "pump-1", "property.read"]);
    writeFileSync(join(home, "viewer.token"), viewerToken);
  });

  afterAll(async () => {
    await device?.close({ timeoutMs: 2000 });
    await server?.dispose();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  it("cli - login checks the token and saves a 0600 profile; whoami and logout", async () => {
    const bad = await outpost(["login", "--server", server.operatorUrl, "--ca", server.caPath, "--token-file", "nope"]);
    expect(bad.status).toBe(2);
    const login = await outpost([
      "login",
      "--server",
      server.operatorUrl,
      "--ca",
      server.caPath,
      "--token-file",
      join(home, "admin.token"),
    ]);
    expect(login.stderr).toBe("");
    expect(login.status).toBe(0);
    expect(login.stdout).toMatch(/logged in to https:\/\/127\.0\.0\.1:\d+ as admin \(admin\)/);
    const file = join(home, "config", "profiles.json");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(home, "config")).mode & 0o777).toBe(0o700);

    const who = await outpost(["whoami"]);
    expect(who.status).toBe(0);
    expect(who.stdout).toMatch(/^admin \(admin\) on https:/);
    const whoJson = JSON.parse((await outpost(["whoami", "--json"])).stdout);
    expect(whoJson).toMatchObject({ operator: "admin", admin: true, profile: "default" });

    const lab = await outpost(
      ["login", "--server", server.operatorUrl, "--ca", server.caPath, "--token-file", "-", "--profile", "lab"],
      {},
      viewerToken,
    );
    expect(lab.status).toBe(0);
    expect(JSON.parse((await outpost(["whoami", "--profile", "lab", "--json"])).stdout).operator).toBe("viewer");
    expect((await outpost(["logout", "--profile", "lab"])).status).toBe(0);
    const gone = await outpost(["whoami", "--profile", "lab"]);
    expect(gone.status).toBe(2);
    expect(gone.stderr).toMatch(/^outpost: no profile lab: run outpost login first \(OUTPOST_INVALID_CONFIG\)\n$/);
    // The last login made "lab" current; log in to default again for the other tests.
    await outpost([
      "login",
      "--server",
      server.operatorUrl,
      "--ca",
      server.caPath,
      "--token-file",
      join(home, "admin.token"),
    ]);
  });

  it("cli - devices and things as a table and as JSON", async () => {
    const devices = await outpost(["devices"]);
    expect(devices.status).toBe(0);
    expect(devices.stdout.split("\n")[0]).toMatch(/^DEVICE\s+CONNECTED\s+SOURCE/);
    expect(devices.stdout).toMatch(/dev-cli\s+true\s+127\.0\.0\.1/);
    expect(devices.stdout).not.toContain("\u001b[");
    const devicesJson = JSON.parse((await outpost(["devices", "--json"])).stdout);
    expect(devicesJson).toEqual([expect.objectContaining({ id: "dev-cli", connected: true })]);
    const things = await outpost(["things"]);
    expect(things.stdout).toMatch(/^THING\s+DEVICE\s+ONLINE/);
    expect(things.stdout).toMatch(/pump-1\s+dev-cli\s+true/);
    expect(JSON.parse((await outpost(["things", "--json"])).stdout)).toEqual([
      expect.objectContaining({ name: "pump-1", deviceId: "dev-cli", online: true }),
    ]);
  });

  it("cli - set, get and call as a table and as JSON", async () => {
    const set = await outpost(["set", "pump-1", "speed", "7"]);
    expect(set).toMatchObject({ status: 0, stdout: "pump-1 speed = 7\n" });
    expect(device.thing("pump-1").get("speed")).toBe(7);
    expect(JSON.parse((await outpost(["set", "pump-1", "speed", "8", "--json"])).stdout)).toEqual({
      state: "applied",
      thing: "pump-1",
      name: "speed",
      value: 8,
    });
    const get = await outpost(["get", "pump-1", "speed"]);
    expect(get.status).toBe(0);
    expect(get.stdout).toMatch(/^PROPERTY\s+VALUE\s+QUALITY\s+TIME\nspeed\s+8\s+good/);
    const getJson = JSON.parse((await outpost(["get", "pump-1", "--json"])).stdout);
    expect(getJson).toMatchObject({ thing: "pump-1", live: true, properties: [{ name: "speed", value: 8 }] });
    const call = await outpost(["call", "pump-1", "add", "--param", "a=2", "--param", "b=3"]);
    expect(call).toMatchObject({ status: 0, stdout: "5\n" });
    expect(
      JSON.parse((await outpost(["call", "pump-1", "add", "--param", "a=1", "--param", "b=1", "--json"])).stdout),
    ).toEqual({ result: 2 });
    const notJson = await outpost(["set", "pump-1", "speed", "fast"]);
    expect(notJson.status).toBe(2);
    expect(notJson.stderr).toContain("(OUTPOST_INVALID_CONFIG)");
  });

  it("cli - set to an offline Thing says it is queued as desired state; get shows it; unset clears it", async () => {
    server.cli(["thing", "assign", "pump-9", "dev-cli"]);
    const set = await outpost(["set", "pump-9", "speed", "5", "--expires", "2h"]);
    expect(set.status).toBe(0);
    expect(set.stdout).toMatch(
      /^pump-9 is offline: speed = 5 is queued as desired state, applied when the device reconnects \(expires \d{4}-[\d-]+T[\d:.]+Z; clear with: outpost unset pump-9 speed\)\n$/,
    );
    const json = JSON.parse((await outpost(["set", "pump-9", "speed", "6", "--json"])).stdout);
    expect(json).toMatchObject({ state: "desired", thing: "pump-9", name: "speed", value: 6, setBy: "admin" });
    const get = await outpost(["get", "pump-9"]);
    expect(get.stdout).toMatch(/\nDESIRED\s+VALUE\s+SET BY\s+SET AT\s+EXPIRES\nspeed\s+6\s+admin\s/);
    expect(get.stdout).toContain("(pump-9 is offline: last values kept by the server)");
    expect((await outpost(["set", "pump-9", "speed", "5", "--expires", "soon"])).status).toBe(2);
    expect(await outpost(["unset", "pump-9", "speed"])).toMatchObject({
      status: 0,
      stdout: "pump-9 speed: desired value cleared\n",
    });
    const again = await outpost(["unset", "pump-9", "speed"]);
    expect(again.status).toBe(1);
    expect(again.stderr).toContain("(OUTPOST_NOT_FOUND)");
  });

  it("cli - a refused write exits 1 and shows the code; a wrong token and usage errors", async () => {
    const refused = await outpost(["set", "pump-1", "speed", "3"], { OUTPOST_TOKEN: viewerToken });
    expect(refused.status).toBe(1);
    expect(refused.stderr).toBe("outpost: operator viewer lacks property.write on pump-1 (OUTPOST_FORBIDDEN)\n");
    expect(device.thing("pump-1").get("speed")).toBe(8);
    const wrong = await outpost(["things"], { OUTPOST_TOKEN: `${server.adminToken.slice(0, -2)}xx` });
    expect(wrong.status).toBe(1);
    expect(wrong.stderr).toBe("outpost: a valid bearer token is required (OUTPOST_UNAUTHORIZED)\n");
    expect((await outpost(["things", "--debug"], { OUTPOST_TOKEN: "opt_x_y" })).stderr).toMatch(/\n\s+at /);
    const usage = await outpost(["get"]);
    expect(usage.status).toBe(2);
    const help = await outpost(["set", "--help"]);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain("Example:");
  });

  it("cli - an unreachable server is exit 1 within the timeout", async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", () => r()));
    const port = (closed.address() as { port: number }).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const refused = await outpost(["things", "--server", `https://127.0.0.1:${port}`]);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/cannot reach https:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\) \(OUTPOST_UNAVAILABLE\)/);

    const silent: Server = createServer(() => {});
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", () => r()));
    try {
      const url = `https://127.0.0.1:${(silent.address() as { port: number }).port}`;
      const hung = await outpost(["things", "--server", url, "--timeout", "1000"]);
      expect(hung.status).toBe(1);
      expect(hung.stderr).toContain("(OUTPOST_TIMEOUT)");
      expect(hung.ms).toBeLessThan(10_000);
    } finally {
      silent.close();
    }
  });

  it("cli - watch survives a server restart and shows later events once each", async () => {
    const watch = startOutpost(["watch", "--json", "--events-only"], env);
    try {
      const events = () => watch.lines.map((l) => JSON.parse(l) as { type: string; name: string; data: { n: number } });
      // The stream is open once an event emitted now shows up.
      await waitUntil("watch connected", () => {
        device.thing("pump-1").emit("probe", {});
        return events().some((e) => e.name === "probe");
      });
      device.thing("pump-1").set("speed", 9);
      device.thing("pump-1").emit("tick", { n: 1 });
      device.thing("pump-1").emit("tick", { n: 2 });
      await waitUntil("ticks before restart", () => events().filter((e) => e.name === "tick").length === 2);
      await server.stop();
      await server.start();
      await waitUntil("device reconnected", () => device.status.type === "connected", { timeoutMs: 20_000 });
      device.thing("pump-1").emit("tick", { n: 3 });
      device.thing("pump-1").emit("tick", { n: 4 });
      await waitUntil("ticks after restart", () => events().filter((e) => e.name === "tick").length >= 4, {
        timeoutMs: 30_000,
      });
      await new Promise((r) => setTimeout(r, 300));
      expect(
        events()
          .filter((e) => e.name === "tick")
          .map((e) => e.data.n),
      ).toEqual([1, 2, 3, 4]);
      expect(events().every((e) => e.type === "event")).toBe(true);
      expect(watch.stderr.join("")).toMatch(/reconnecting/);
    } finally {
      expect(await watch.stop()).toBe(0);
    }
  });

  it("cli - no log, output or audit record holds a plaintext token", () => {
    const everything = [...cliOutput, ...server.logs, readFileSync(join(server.dataDir, "audit.log"), "utf8")].join(
      "\n",
    );
    for (const token of [server.adminToken, viewerToken]) {
      const secret = token.slice(-24);
      expect(everything).not.toContain(secret);
    }
  });
});
