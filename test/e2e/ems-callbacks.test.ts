import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ems, EmsProcess, runEms } from "../helpers/ems-process.js";
import { operatorRequest } from "../helpers/operator-client.js";
import { ServerProcess } from "../helpers/server-process.js";
import { waitUntil } from "../helpers/wait.js";

/** A local application's HTTP endpoint, as a device's own software would offer one. */
function appServer(handler: (path: string, body: any, res: ServerResponse) => void): Server {
  return createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => handler(req.url ?? "", JSON.parse(Buffer.concat(chunks).toString("utf8")), res));
  });
}

function answer(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
}

describe("ems - services answered by local callback endpoints", () => {
  let server: ServerProcess;
  let dir: string;
  let daemon: EmsProcess | undefined;
  const apps: Server[] = [];
  const seen: any[] = [];
  let slowClosed = false;

  const invoke = (service: string, params: unknown, timeoutMs = 10_000) =>
    operatorRequest(
      server.operatorUrl,
      server.caPem,
      server.adminToken,
      "POST",
      `/api/things/pump-1/services/${service}?timeoutMs=${timeoutMs}`,
      params,
    );

  beforeAll(async () => {
    server = ServerProcess.init();
    await server.start();
    const bundle = server.addDevice("ems-cb", ["pump-1"]);
    dir = join(server.dataDir, "..", "ems-cb");
    ems(["init", "--dir", dir, "--bundle", bundle.dir, "--url", server.edgeUrl]);

    const tcpApp = appServer((path, body, res) => {
      seen.push({ path, body });
      if (path === "/reset") answer(res, 200, { result: { reset: true, by: body.params.by } });
      else if (path === "/busy") answer(res, 409, { error: { message: "pump is running", status: 409 } });
      else if (path === "/big") answer(res, 200, { result: "y".repeat(2 * 1024 * 1024) });
      else if (path === "/plain") res.writeHead(500).end("boom");
      // "/slow" never answers; the EMS must give up on it when the server's deadline passes
    });
    tcpApp.on("request", (req: IncomingMessage) => {
      if (req.url === "/slow") req.socket.once("close", () => (slowClosed = true));
    });
    const sockApp = appServer((path, body, res) =>
      answer(res, 200, { result: { via: "socket", path, x: body.params.x } }),
    );
    apps.push(tcpApp, sockApp);
    await new Promise<void>((r) => tcpApp.listen(0, "127.0.0.1", r));
    const sock = join(dir, "..", "app.sock");
    await new Promise<void>((r) => sockApp.listen(sock, r));
    const base = `http://127.0.0.1:${(tcpApp.address() as AddressInfo).port}`;
    const services = [
      { name: "reset", callback: `${base}/reset` },
      { name: "busy", callback: `${base}/busy` },
      { name: "big", callback: `${base}/big` },
      { name: "plain", callback: `${base}/plain` },
      { name: "slow", callback: `${base}/slow` },
      { name: "viaSocket", callback: "http://localhost/calls/viaSocket", socket: sock },
      "polled",
    ];
    ems(["config", "set", "things", JSON.stringify([{ name: "pump-1", services }]), "--dir", dir]);
    daemon = await EmsProcess.start(dir);
    await waitUntil(
      "connected",
      async () => (await daemon!.request("GET", "/status")).body?.connection?.state === "connected",
    );
  });

  afterAll(async () => {
    await daemon?.kill();
    for (const a of apps) {
      a.closeAllConnections();
      a.close();
    }
    await server?.dispose();
  });

  it("ems - the EMS posts the call to the endpoint and returns its result to the operator", async () => {
    const r = await invoke("reset", { by: "operator" });
    expect(r.body).toEqual({ result: { reset: true, by: "operator" } });
    expect(seen.at(-1)).toMatchObject({
      path: "/reset",
      body: { thing: "pump-1", service: "reset", params: { by: "operator" } },
    });
    expect(seen.at(-1).body.id).toMatch(/^call_/);
    const s = await invoke("viaSocket", { x: 3 });
    expect(s.body).toEqual({ result: { via: "socket", path: "/calls/viaSocket", x: 3 } });
  });

  it("ems - an endpoint's error, a non-JSON failure, an oversized answer and silence reach the operator as errors", async () => {
    const busy = await invoke("busy", {});
    expect(busy.status).toBe(409);
    expect(JSON.stringify(busy.body)).toContain("pump is running");
    const plain = await invoke("plain", {});
    expect(plain.status).toBe(500);
    const big = await invoke("big", {});
    expect(big.status).toBeGreaterThanOrEqual(500);
    expect(JSON.stringify(big.body)).toContain("more than 1 MiB");
    const slow = await invoke("slow", {}, 1_500);
    expect(slow.status).toBe(504);
    await waitUntil("the EMS to abort the unanswered callback request", () => slowClosed, { timeoutMs: 5_000 });
    // The daemon is still up and still answers.
    expect((await invoke("reset", { by: "again" })).body).toEqual({ result: { reset: true, by: "again" } });
    const metrics = await daemon!.request("GET", "/metrics");
    expect(metrics.body).toMatch(/^outpost_ems_service_callbacks_total\{outcome="failed"\} [4-9]$/m);
    expect(metrics.body).toMatch(/^outpost_ems_service_callbacks_total\{outcome="answered"\} [3-9]$/m);
  });

  it("ems - a callback to a non-loopback address stops the start with a clear error and exit code 2", async () => {
    await daemon!.kill("SIGTERM");
    daemon = undefined;
    const services = [{ name: "r", callback: "http://192.0.2.10/reset" }];
    ems(["config", "set", "things", JSON.stringify([{ name: "pump-1", services }]), "--dir", dir]);
    const r = runEms(["start", "--dir", dir]);
    expect(r.stderr).toContain("192.0.2.10 is not a loopback address");
    expect(r.status).toBe(2);
  });
});
