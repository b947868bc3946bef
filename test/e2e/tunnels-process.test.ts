import { type ChildProcess, spawn } from "node:child_process";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runOutpost } from "../helpers/outpost-cli.js";
import { repoRoot, ServerProcess } from "../helpers/server-process.js";
import { waitUntil } from "../helpers/wait.js";

const DEVICE = join(repoRoot, "examples", "device-basic", "device.mjs");

describe("tunnels - real server process, examples/device-basic --allow-tunnel, outpost tunnel --stdio", () => {
  let server: ServerProcess;
  let echo: Server;
  let device: ChildProcess | undefined;
  const lines: Record<string, unknown>[] = [];

  beforeAll(async () => {
    echo = createServer({ allowHalfOpen: true }, (s) => {
      s.on("error", () => undefined);
      s.pipe(s);
    });
    await new Promise<void>((r) => echo.listen(0, "127.0.0.1", r));
    server = ServerProcess.init();
    await server.start();
    const bundle = server.addDevice("tun-1", ["tun-thing"]);
    const port = (echo.address() as { port: number }).port;
    device = spawn(
      process.execPath,
      [DEVICE, "--bundle", bundle.dir, "--url", server.edgeUrl, "--allow-tunnel", `echo=127.0.0.1:${port}`],
      {
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    createInterface({ input: device.stdout! }).on("line", (l) => {
      try {
        lines.push(JSON.parse(l) as Record<string, unknown>);
      } catch {
        lines.push({ raw: l });
      }
    });
    device.stderr!.resume();
    await waitUntil("the device to connect", () => lines.find((l) => l.status === "connected"));
  }, 60_000);

  afterAll(async () => {
    device?.kill("SIGKILL");
    echo?.close();
    await server?.dispose();
  });

  it("tunnels - bytes through --stdio come back from the device's target; an unknown target is refused with exit 1", async () => {
    const env = {
      OUTPOST_SERVER: server.operatorUrl,
      OUTPOST_CA: server.caPath,
      OUTPOST_TOKEN: server.adminToken,
      OUTPOST_DEVICE_CA: server.caPath,
      OUTPOST_CONFIG_DIR: join(server.dataDir, "..", "cli"),
    };
    const payload = "hello through the tunnel\n".repeat(1000);
    const r = await runOutpost(["tunnel", "tun-1", "echo", "--stdio"], env, payload);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(payload);
    await waitUntil("the device's audit of the end", () => lines.find((l) => l.event === "tunnel.end"));
    const refused = await runOutpost(["tunnel", "tun-1", "vnc", "--stdio"], env, "x");
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/not allowed.*OUTPOST_FORBIDDEN/);
    const { OUTPOST_DEVICE_CA: _, ...withoutCa } = env;
    const noCa = await runOutpost(["tunnel", "tun-1", "echo", "--stdio"], withoutCa, "x");
    expect(noCa.status).toBe(2);
    expect(noCa.stderr).toMatch(/device CA/);
  }, 60_000);
});
