import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repoRoot, ServerProcess } from "../helpers/server-process.js";
import { waitUntil } from "../helpers/wait.js";

const DEVICE = join(repoRoot, "examples", "device-basic", "device.mjs");

/** A running copy of examples/device-basic: its JSON lines, and its exit code once it ends. */
class DeviceProcess {
  readonly lines: Array<Record<string, unknown>> = [];
  exitCode: number | null | undefined;
  private readonly child: ChildProcess;

  constructor(bundle: string, url: string) {
    this.child = spawn(process.execPath, [DEVICE, "--bundle", bundle, "--url", url, "--interval", "200"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    createInterface({ input: this.child.stdout! }).on("line", (l) => {
      try {
        this.lines.push(JSON.parse(l) as Record<string, unknown>);
      } catch {
        this.lines.push({ raw: l });
      }
    });
    this.child.stderr!.resume();
    this.child.on("exit", (code) => {
      this.exitCode = code;
    });
  }

  find(pred: (l: Record<string, unknown>) => boolean): Record<string, unknown> | undefined {
    return this.lines.find(pred);
  }

  kill(): void {
    if (this.exitCode === undefined) this.child.kill("SIGKILL");
  }
}

describe("examples/device-basic - ends with a clear message when it must not reconnect", () => {
  let server: ServerProcess;
  const devices: DeviceProcess[] = [];

  beforeAll(async () => {
    server = ServerProcess.init();
    const configPath = join(server.dataDir, "config.json");
    const config = JSON.parse(readFileSync(configPath, "utf8"));
    config.edge.revalidateIntervalMs = 300;
    writeFileSync(configPath, JSON.stringify(config, null, 2));
    await server.start();
  });
  afterAll(async () => {
    for (const d of devices) d.kill();
    await server?.dispose();
  });

  it("device-basic - a second copy with the same bundle says it replaced the first, which exits 3; revoking the key exits 4", async () => {
    const bundle = server.addDevice("gw-twice", ["thermo-twice"]);
    const first = new DeviceProcess(bundle.dir, server.edgeUrl);
    devices.push(first);
    await waitUntil("the first copy to connect", () => first.find((l) => l.status === "connected"));

    const second = new DeviceProcess(bundle.dir, server.edgeUrl);
    devices.push(second);
    const tookOver = await waitUntil("the second copy to report the take-over", () =>
      second.find((l) => typeof l.message === "string" && l.message.startsWith("took over the session")),
    );
    const firstSession = first.find((l) => l.status === "connected")!.sessionId as string;
    expect(tookOver.message).toContain(firstSession);

    await waitUntil("the first copy to exit", () => first.exitCode !== undefined);
    expect(first.exitCode).toBe(3);
    const why = first.find((l) => l.exitCode === 3)!;
    expect(why).toMatchObject({ level: "error", code: "OUTPOST_CONFLICT" });
    expect(why.message).toContain("same bundle");
    expect(second.exitCode).toBeUndefined();

    server.cli(["key", "revoke", bundle.appKey.slice(4, 20)]);
    await waitUntil("the second copy to exit", () => second.exitCode !== undefined);
    expect(second.exitCode).toBe(4);
    expect(second.find((l) => l.exitCode === 4)).toMatchObject({ code: "OUTPOST_UNAUTHORIZED" });
  }, 60_000);

  it("device-basic - a missing bundle or a CSR bundle without its key is one line naming it (exit 2)", () => {
    const run = (bundle: string) =>
      spawnSync(process.execPath, [DEVICE, "--bundle", bundle], { encoding: "utf8", timeout: 30_000 });
    const missing = join(server.dataDir, "..", "no-such-bundle");
    const r = run(missing);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`bundle directory ${missing} not found`);
    expect(r.stderr).not.toContain("    at ");

    const csrBundle = join(server.dataDir, "..", "csr-bundle");
    mkdirSync(csrBundle);
    try {
      const manifest = { version: 1, deviceId: "d", url: server.edgeUrl, things: [], keyEncrypted: false };
      const files = { ca: "ca.pem", cert: "device.pem", key: null, appKey: "app-key" };
      writeFileSync(join(csrBundle, "device.json"), JSON.stringify({ ...manifest, files }));
      const c = run(csrBundle);
      expect(c.status).toBe(2);
      expect(c.stderr).toContain("holds no private key");
      expect(c.stderr).toContain("device.key");
    } finally {
      rmSync(csrBundle, { recursive: true, force: true });
    }
  });
});
