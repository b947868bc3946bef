import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { connect, createServer, type Server } from "node:net";
import { join } from "node:path";
import { OperatorClient, type OperatorTunnel } from "@outpost/operator";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ems, EmsProcess } from "../helpers/ems-process.js";
import { ServerProcess } from "../helpers/server-process.js";
import { waitUntil } from "../helpers/wait.js";

describe("ems - tunnels with local approval, and files", () => {
  let server: ServerProcess;
  let daemon: EmsProcess;
  let dir: string;
  let echo: Server;
  let logs = "";

  beforeAll(async () => {
    echo = createServer({ allowHalfOpen: true }, (s) => {
      s.on("error", () => undefined);
      s.pipe(s);
    });
    await new Promise<void>((r) => echo.listen(0, "127.0.0.1", r));
    const echoPort = (echo.address() as { port: number }).port;
    server = ServerProcess.init();
    await server.start();
    const bundle = server.addDevice("ems-tun", ["tun-thing"]);
    dir = join(server.dataDir, "..", "ems");
    ems(["init", "--dir", dir, "--bundle", bundle.dir, "--url", server.edgeUrl]);
    ems(["config", "set", "tunnels.targets", JSON.stringify({ echo: `127.0.0.1:${echoPort}` }), "--dir", dir]);
    logs = join(server.dataDir, "..", "device-logs");
    mkdirSync(logs);
    writeFileSync(join(logs, "boot.txt"), "booted\n");
    ems(["config", "set", "files.virtualDirs", JSON.stringify({ logs }), "--dir", dir]);
    daemon = await EmsProcess.start(dir);
    await waitUntil(
      "connected",
      async () => (await daemon.request("GET", "/status")).body?.connection?.state === "connected",
    );
  });

  afterAll(async () => {
    await daemon?.kill();
    await server?.dispose();
    echo?.close();
  });

  function open(): Promise<OperatorTunnel> {
    const op = new OperatorClient({ url: server.operatorUrl, token: server.adminToken, ca: server.caPem });
    return op.openTunnel({ device: "ems-tun", target: "echo", deviceCa: server.caPem });
  }

  async function pendingId(): Promise<string> {
    // Polled through the local API: a CLI process per poll is slow on a busy machine.
    return waitUntil(
      "a pending request",
      async () => {
        const list = (await daemon.request("GET", "/tunnels/pending")).body.pending as Array<{
          id: string;
          target: string;
        }>;
        return list[0]?.target === "echo" ? list[0].id : undefined;
      },
      { timeoutMs: 60_000 },
    );
  }

  it("ems tunnels - a request waits in tunnels pending; deny refuses it, approve lets bytes through; both audited", async () => {
    const denied = open();
    const refusal = denied.then(
      () => "opened",
      (err: { code?: string }) => err.code,
    );
    ems(["tunnels", "deny", await pendingId(), "--dir", dir]);
    expect(await refusal).toBe("OUTPOST_FORBIDDEN");

    const opening = open();
    ems(["tunnels", "approve", await pendingId(), "--dir", dir]);
    const tunnel = await opening;
    const local = await tunnel.listen(0);
    const port = (local.address() as { port: number }).port;
    const socket = connect({ port, host: "127.0.0.1", allowHalfOpen: true });
    const chunks: Buffer[] = [];
    socket.on("data", (c: Buffer) => chunks.push(c));
    socket.end("through the tunnel");
    await new Promise((r) => socket.once("close", r));
    expect(Buffer.concat(chunks).toString()).toBe("through the tunnel");
    local.close();
    await tunnel.close();

    await waitUntil("tunnel end audited", () => /"tunnel.end"/.test(readAudit(dir)), { timeoutMs: 60_000 });
    const records = readAudit(dir)
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { type: string; details?: { type?: string; reason?: string } });
    const tunnelRecords = records
      .filter((r) => r.type === "tunnel.session")
      .map((r) => [r.details?.type, r.details?.reason]);
    expect(tunnelRecords).toContainEqual(["tunnel.refused", "denied"]);
    expect(tunnelRecords).toContainEqual(["tunnel.start", undefined]);
    expect(ems(["audit", "verify", "--dir", dir])).toMatch(/ok/);
  }, 180_000);

  it("ems files - the configured virtual directories are served to the server", async () => {
    const op = new OperatorClient({ url: server.operatorUrl, token: server.adminToken, ca: server.caPem });
    const listing = await op.listDeviceFiles("ems-tun", "logs");
    expect(JSON.stringify(listing)).toContain("boot.txt");
  });
});

function readAudit(dir: string): string {
  return readFileSync(join(dir, "audit.log"), "utf8");
}
