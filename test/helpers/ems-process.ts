import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { request } from "node:http";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { repoRoot } from "./server-process.js";

export const emsCli = join(repoRoot, "packages", "ems", "dist", "bin.js");

/** Runs `outpost-ems <args>` to completion. */
export function runEms(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [emsCli, ...args], {
    encoding: "utf8",
    timeout: 60_000,
    env: { ...process.env, ...env },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Like {@link runEms} but throws on a non-zero exit. */
export function ems(args: string[], env: NodeJS.ProcessEnv = {}): string {
  const r = runEms(args, env);
  if (r.status !== 0) throw new Error(`outpost-ems ${args.join(" ")} exited ${r.status}:\n${r.stderr}\n${r.stdout}`);
  return r.stdout;
}

/** A running `outpost-ems start` process; its JSON log lines are collected. */
export class EmsProcess {
  readonly logs: Array<Record<string, unknown>> = [];
  readonly stderr: string[] = [];
  private constructor(
    readonly dir: string,
    private readonly child: ChildProcess,
  ) {}

  /** Starts the daemon and waits until its local API listens. */
  static async start(dir: string, env: NodeJS.ProcessEnv = {}): Promise<EmsProcess> {
    const child = spawn(process.execPath, [emsCli, "start", "--dir", dir], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...env },
    });
    const p = new EmsProcess(dir, child);
    child.stderr?.on("data", (d: Buffer) => p.stderr.push(d.toString()));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`outpost-ems did not start:\n${p.stderr.join("")}`)), 20_000);
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`outpost-ems exited with ${code}:\n${p.stderr.join("")}`));
      });
      createInterface({ input: child.stdout! }).on("line", (line) => {
        try {
          const rec = JSON.parse(line) as Record<string, unknown>;
          p.logs.push(rec);
          if (rec.msg === "outpost-ems started") {
            clearTimeout(timer);
            resolve();
          }
        } catch {
          p.stderr.push(line);
        }
      });
    });
    return p;
  }

  get socket(): string {
    return join(this.dir, "run", "local.sock");
  }

  /** One request to the local API over the Unix socket. */
  request(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; body: any }> {
    return localHttp({ socketPath: this.socket }, method, path, body, headers);
  }

  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((r) => this.child.once("exit", () => r()));
    this.child.kill(signal);
    await exited;
  }
}

/** One HTTP request to a local API (Unix socket or TCP). */
export function localHttp(
  where: { socketPath: string } | { host: string; port: number },
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      {
        ...where,
        method,
        path,
        headers: { host: "localhost", ...(data && { "content-type": "application/json" }), ...headers },
        timeout: 30_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let parsed: unknown = text;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            // not JSON
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error("local request timed out")));
    req.on("error", reject);
    // A refused large body closes the connection while we still write: the answer is what counts.
    req.on("socket", (s) => s.on("error", () => {}));
    req.end(data);
  });
}
