import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

const SQUID_CANDIDATES = ["/usr/sbin/squid", "/usr/bin/squid"];
const NCSA_CANDIDATES = ["/usr/lib/squid/basic_ncsa_auth", "/usr/lib64/squid/basic_ncsa_auth"];

/** The squid binary and its Basic-auth helper, or why they are missing. */
export function findSquid(): { squid: string; ncsa: string; htpasswd: string } | string {
  const squid = SQUID_CANDIDATES.find((p) => existsSync(p));
  const ncsa = NCSA_CANDIDATES.find((p) => existsSync(p));
  const htpasswd = spawnSync("sh", ["-c", "command -v htpasswd"], { encoding: "utf8" }).stdout.trim();
  if (!squid) return "squid is not installed (Debian package squid)";
  if (!ncsa) return "squid's basic_ncsa_auth helper is missing";
  if (!htpasswd) return "htpasswd is not installed (Debian package apache2-utils)";
  return { squid, ncsa, htpasswd };
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

/**
 * A real squid on 127.0.0.1 with Basic authentication (one user, from an htpasswd file), that
 * allows CONNECT to any port for that user and nothing else. Its config, logs and pid live in a
 * temporary directory; it runs in the foreground (-N) and is stopped by {@link stop}.
 */
export class Squid {
  private constructor(
    readonly port: number,
    private readonly dir: string,
    private readonly child: ChildProcess,
    private readonly output: string[],
  ) {}

  /** `http://127.0.0.1:port` (no credentials). */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  static async start(user: string, password: string): Promise<Squid> {
    const found = findSquid();
    if (typeof found === "string") throw new Error(found);
    const dir = mkdtempSync(join(tmpdir(), "outpost-squid-"));
    // Squid started as root drops to its own user, which must read the config and write the logs.
    chmodSync(dir, 0o777);
    execFileSync(found.htpasswd, ["-b", "-c", join(dir, "passwd"), user, password], { stdio: "pipe" });
    chmodSync(join(dir, "passwd"), 0o644);
    const port = await freePort();
    const config = [
      `http_port 127.0.0.1:${port}`,
      `pid_filename ${join(dir, "squid.pid")}`,
      `cache_log ${join(dir, "cache.log")}`,
      `access_log stdio:${join(dir, "access.log")}`,
      `coredump_dir ${dir}`,
      "cache deny all",
      "netdb_filename none",
      "shutdown_lifetime 0 seconds",
      "dns_v4_first on",
      `auth_param basic program ${found.ncsa} ${join(dir, "passwd")}`,
      "auth_param basic realm outpost-test",
      "auth_param basic children 1 startup=1 idle=1",
      "acl authed proxy_auth REQUIRED",
      "acl CONNECT method CONNECT",
      "http_access allow CONNECT authed",
      "http_access deny all",
    ];
    writeFileSync(join(dir, "squid.conf"), `${config.join("\n")}\n`, { mode: 0o644 });
    const output: string[] = [];
    const child = spawn(found.squid, ["-N", "-f", join(dir, "squid.conf")], { stdio: ["ignore", "pipe", "pipe"] });
    child.stdout?.on("data", (d: Buffer) => output.push(d.toString()));
    child.stderr?.on("data", (d: Buffer) => output.push(d.toString()));
    const squid = new Squid(port, dir, child, output);
    try {
      await squid.waitListening();
    } catch (err) {
      await squid.stop();
      throw err;
    }
    return squid;
  }

  /** The access log so far (one line per request, with the user name and the CONNECT target). */
  accessLog(): string {
    const file = join(this.dir, "access.log");
    return existsSync(file) ? readFileSync(file, "utf8") : "";
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((r) => this.child.once("exit", r));
      this.child.kill("SIGTERM");
      const force = setTimeout(() => this.child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(force);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async waitListening(): Promise<void> {
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      if (this.child.exitCode !== null) break;
      const ok = await new Promise<boolean>((resolve) => {
        const s = connect(this.port, "127.0.0.1");
        s.once("connect", () => {
          s.destroy();
          resolve(true);
        });
        s.once("error", () => resolve(false));
      });
      if (ok) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    const log = existsSync(join(this.dir, "cache.log")) ? readFileSync(join(this.dir, "cache.log"), "utf8") : "";
    throw new Error(`squid did not start listening on ${this.port}:\n${this.output.join("")}\n${log}`);
  }
}
