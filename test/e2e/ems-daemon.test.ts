import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ems, EmsProcess, localHttp, runEms } from "../helpers/ems-process.js";
import { operatorRequest } from "../helpers/operator-client.js";
import { type DeviceBundle, repoRoot, ServerProcess } from "../helpers/server-process.js";
import { exitOf, waitUntil } from "../helpers/wait.js";

const PYTHON = "/usr/bin/python3";

describe("ems - daemon against a real server", () => {
  let server: ServerProcess;
  let bundle: DeviceBundle;
  let dir: string;
  let daemon: EmsProcess | undefined;

  beforeAll(async () => {
    server = ServerProcess.init();
    await server.start();
    bundle = server.addDevice("ems-dev", ["pump-1"]);
    dir = join(server.dataDir, "..", "ems");
    ems(["init", "--dir", dir, "--bundle", bundle.dir, "--url", server.edgeUrl]);
    ems(["config", "set", "things", JSON.stringify([{ name: "pump-1", services: ["reset"] }]), "--dir", dir]);
  });

  afterAll(async () => {
    await daemon?.kill();
    await server?.dispose();
  });

  it("ems - connects with mutual TLS and the key from the encrypted config; Python sets properties and answers a service call", async () => {
    daemon = await EmsProcess.start(dir);
    await waitUntil(
      "connected",
      async () => (await daemon!.request("GET", "/status")).body?.connection?.state === "connected",
    );

    const py = spawn(
      PYTHON,
      [join(repoRoot, "examples/ems-python/device.py"), "--socket", daemon.socket, "--thing", "pump-1", "--once"],
      {
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    const pyErr: string[] = [];
    py.stderr.on("data", (d: Buffer) => pyErr.push(d.toString()));
    const lines: any[] = [];
    createInterface({ input: py.stdout }).on("line", (l) => lines.push(JSON.parse(l)));
    await waitUntil("python ready", () => lines.some((l) => l.ready) || pyErr.length > 0);
    expect(pyErr.join("")).toBe("");

    const call = await operatorRequest(
      server.operatorUrl,
      server.caPem,
      server.adminToken,
      "POST",
      "/api/things/pump-1/services/reset",
      { x: 21 },
    );
    expect(call.status).toBe(200);
    expect(call.body.result).toEqual({ doubled: 42 });
    expect(await exitOf("the Python example", py)).toBe(0);

    await waitUntil("values at the server", async () => {
      const r = await operatorRequest(
        server.operatorUrl,
        server.caPem,
        server.adminToken,
        "GET",
        "/api/things/pump-1/properties",
      );
      const by = Object.fromEntries(
        (r.body.properties as Array<{ name: string; value: unknown }>).map((p) => [p.name, p.value]),
      );
      return by.temperature === 21.5 && by.rpm === 1200 && by.mode === "auto";
    });
    const local = await daemon.request("GET", "/things/pump-1/properties");
    expect(local.body).toMatchObject({ temperature: 21.5, rpm: 1200, mode: "auto" });
    expect(ems(["audit", "verify", "--dir", dir])).toMatch(/ok, \d+ records/);
    const audit = readFileSync(join(dir, "audit.log"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(audit[0]).toMatchObject({ seq: 1, type: "login.success", actor: "device:ems-dev", outcome: "success" });
  });

  it("ems - the shell + curl example sets values and answers a service call", async () => {
    const sh = spawn("sh", [join(repoRoot, "examples/ems-shell/device.sh")], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, SOCK: daemon!.socket, THING: "pump-1", SERVICE: "reset", ONCE: "1" },
    });
    const out: string[] = [];
    sh.stdout.on("data", (d: Buffer) => out.push(d.toString()));
    sh.stderr.on("data", (d: Buffer) => out.push(d.toString()));
    await waitUntil("shell ready", () => out.join("").includes("ready"));
    const call = await operatorRequest(
      server.operatorUrl,
      server.caPem,
      server.adminToken,
      "POST",
      "/api/things/pump-1/services/reset?timeoutMs=20000",
      {},
    );
    expect(call.body, `shell output:\n${out.join("")}`).toEqual({ result: { reset: true } });
    expect(await exitOf(`the shell example (output:\n${out.join("")})`, sh)).toBe(0);
    const events = await daemon!.request("GET", "/metrics");
    expect(events.body).toMatch(/^outpost_ems_events_total\{identity="default"\} [2-9]/m);
  }, 60_000);

  it("ems - no secret appears in plain text anywhere in DIR", async () => {
    const token = ems(["local-token", "--dir", dir]).trim();
    const keyLine = bundle.key.split("\n").find((l) => l.length > 40 && !l.startsWith("-----"))!;
    for (const secret of [bundle.appKey, keyLine, token]) {
      const r = spawnSync("grep", ["-r", "-F", "-l", "-e", secret, dir], { encoding: "utf8" });
      expect({ secret: secret.slice(0, 6), found: r.stdout }).toEqual({ secret: secret.slice(0, 6), found: "" });
      expect(r.status).toBe(1);
    }
    expect(readFileSync(join(dir, "config.json"), "utf8")).toContain("outpost-enc:v1:");
  });

  it("ems - the local API refuses browsers and foreign Host headers, and unknown Things", async () => {
    const origin = await daemon!.request("GET", "/status", undefined, { origin: "http://evil.example" });
    expect(origin.status).toBe(403);
    const host = await daemon!.request("GET", "/status", undefined, { host: "evil.example" });
    expect(host.status).toBe(403);
    const unknown = await daemon!.request("PUT", "/things/other/properties/x", { value: 1 });
    expect(unknown.status).toBe(404);
    const big = await daemon!.request("PUT", "/things/pump-1/properties/x", { value: "y".repeat(2 * 1024 * 1024) });
    expect(big.status).toBe(413);
    const metrics = await daemon!.request("GET", "/metrics");
    expect(metrics.body).toMatch(/^outpost_ems_local_refused_total\{reason="origin"\} 1$/m);
  });

  it("ems - a wrong data key stops the start with a clear error and exit code 2", async () => {
    const r = runEms(["start", "--dir", dir], { OUTPOST_EMS_DATA_KEY: randomBytes(32).toString("base64") });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("wrong data key (from OUTPOST_EMS_DATA_KEY)");
    expect(r.stderr).not.toContain("at ");
  });

  it("ems - TCP needs the bearer token; a non-loopback address is refused unless forced", async () => {
    await daemon!.kill("SIGTERM");
    ems(["config", "set", "local.tcp", "0.0.0.0:0", "--dir", dir]);
    const refused = runEms(["start", "--dir", dir]);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toContain("not a loopback address");
    ems(["config", "set", "local.tcp", "127.0.0.1:0", "--dir", dir]);
    daemon = await EmsProcess.start(dir);
    const listening = daemon.logs.find((l) => l.msg === "local API listening") as {
      tcp: { host: string; port: number };
    };
    const where = { host: "127.0.0.1", port: listening.tcp.port };
    expect((await localHttp(where, "GET", "/status")).status).toBe(401);
    expect((await localHttp(where, "GET", "/status", undefined, { authorization: "Bearer wrong" })).status).toBe(401);
    const token = ems(["local-token", "--dir", dir]).trim();
    expect((await localHttp(where, "GET", "/status", undefined, { authorization: `Bearer ${token}` })).status).toBe(
      200,
    );
    // The uid of the process at the other end of each TCP connection (this one) is logged.
    const connections = await waitUntil("connections logged", () => {
      const c = daemon!.logs.filter((l) => l.msg === "local API connection");
      return c.length >= 1 ? c : undefined;
    });
    expect(connections.every((l) => l.via === "tcp" && l.peerUid === process.getuid!())).toBe(true);
    const tokenRefusal = daemon.logs.find((l) => l.msg === "local API request refused");
    expect(tokenRefusal).toMatchObject({ via: "tcp", reason: "token", peerUid: process.getuid!() });
    await daemon.kill("SIGTERM");
    ems(["config", "unset", "local.tcp", "--dir", dir]);
  }, 90_000);
});
