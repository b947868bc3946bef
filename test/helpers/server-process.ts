import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";

export const repoRoot = resolve(import.meta.dirname, "..", "..");
export const serverCli = join(repoRoot, "packages", "server", "dist", "cli", "main.js");

/** Runs `outpost-server <args>` to completion and returns its output; throws on a non-zero exit. */
export function runServerCli(args: string[]): { stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [serverCli, ...args], { encoding: "utf8", timeout: 60_000 });
  if (r.status !== 0) {
    throw new Error(`outpost-server ${args.join(" ")} exited ${r.status}:\n${r.stderr}\n${r.stdout}`);
  }
  return { stdout: r.stdout, stderr: r.stderr };
}

/** Runs `outpost-server <args>` and returns the exit status and output, without throwing. */
export function tryServerCli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [serverCli, ...args], { encoding: "utf8", timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export interface DeviceBundle {
  dir: string;
  deviceId: string;
  ca: string;
  cert: string;
  key: string;
  appKey: string;
  things: string[];
}

/** A real `outpost-server serve` process on 127.0.0.1 with ephemeral ports and its data directory. */
export class ServerProcess {
  readonly dataDir: string;
  readonly adminToken: string;
  edgeUrl = "";
  operatorUrl = "";
  private child: ChildProcess | undefined;
  readonly logs: string[] = [];

  private constructor(dataDir: string, adminToken: string) {
    this.dataDir = dataDir;
    this.adminToken = adminToken;
  }

  /** Initialises a fresh data directory (CA, server cert, registry, admin token). Does not start. */
  static init(): ServerProcess {
    const base = mkdtempSync(join(tmpdir(), "outpost-e2e-"));
    const dataDir = join(base, "server");
    const out = runServerCli(["init", "--data", dataDir]).stdout;
    const token = /opt_[A-Za-z0-9_-]+/.exec(out)?.[0];
    if (!token) throw new Error(`init printed no admin token:\n${out}`);
    return new ServerProcess(dataDir, token);
  }

  get caPem(): string {
    return readFileSync(join(this.dataDir, "ca", "ca.pem"), "utf8");
  }

  get caPath(): string {
    return join(this.dataDir, "ca", "ca.pem");
  }

  get edgePort(): number {
    return Number(new URL(this.edgeUrl).port);
  }

  cli(args: string[]): string {
    return runServerCli([...args, "--data", this.dataDir]).stdout;
  }

  /** Onboards a device with `outpost-server device add` and reads back its bundle. */
  addDevice(deviceId: string, things: string[], extra: string[] = []): DeviceBundle {
    const dir = join(this.dataDir, "..", `bundle-${deviceId}-${Math.random().toString(36).slice(2, 8)}`);
    this.cli(["device", "add", deviceId, "--things", things.join(","), "--out", dir, ...extra]);
    const read = (f: string) => readFileSync(join(dir, f), "utf8");
    return {
      dir,
      deviceId,
      ca: read("ca.pem"),
      cert: read("device.pem"),
      key: read("device.key"),
      appKey: read("app-key").trim(),
      things,
    };
  }

  /** Starts (or restarts) the server. `edgePort` 0 picks a free port; restart reuses the previous one. */
  async start(options: { edgePort?: number; operatorPort?: number } = {}): Promise<void> {
    const edgePort = options.edgePort ?? (this.edgeUrl ? this.edgePort : 0);
    const operatorPort = options.operatorPort ?? (this.operatorUrl ? Number(new URL(this.operatorUrl).port) : 0);
    const child = spawn(
      process.execPath,
      [
        serverCli,
        "serve",
        "--data",
        this.dataDir,
        "--edge-port",
        String(edgePort),
        "--operator-port",
        String(operatorPort),
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    this.child = child;
    child.stderr?.on("data", (d: Buffer) => this.logs.push(d.toString()));
    await new Promise<void>((resolveReady, reject) => {
      const timer = setTimeout(() => reject(new Error(`server did not start:\n${this.logs.join("")}`)), 20_000);
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`server exited with ${code}:\n${this.logs.join("")}`));
      });
      createInterface({ input: child.stdout! }).on("line", (line) => {
        this.logs.push(line);
        try {
          const msg = JSON.parse(line) as { edgeUrl?: string; operatorUrl?: string };
          if (msg.edgeUrl && msg.operatorUrl !== undefined) {
            this.edgeUrl = msg.edgeUrl;
            this.operatorUrl = msg.operatorUrl;
            clearTimeout(timer);
            resolveReady();
          }
        } catch {
          // not a JSON log line
        }
      });
    });
  }

  /** SIGKILL: no goodbye, no flush — a crash. */
  async kill(): Promise<void> {
    await this.signal("SIGKILL");
  }

  /** SIGTERM: graceful shutdown. */
  async stop(): Promise<void> {
    await this.signal("SIGTERM");
  }

  private async signal(sig: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    child.kill(sig);
    await exited;
    this.child = undefined;
  }

  /** Stops the server and deletes its directory. */
  async dispose(): Promise<void> {
    await this.stop();
    rmSync(join(this.dataDir, ".."), { recursive: true, force: true });
  }

  /** Audit records as parsed JSON lines. */
  auditRecords(): Array<Record<string, unknown>> {
    const text = readFileSync(join(this.dataDir, "audit.log"), "utf8");
    return text
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  }
}
