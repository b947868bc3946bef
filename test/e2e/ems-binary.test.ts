import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { localHttp } from "../helpers/ems-process.js";
import { operatorRequest } from "../helpers/operator-client.js";
import { repoRoot, ServerProcess } from "../helpers/server-process.js";
import { waitUntil } from "../helpers/wait.js";

// Builds both executables, or reuses them when their inputs are unchanged (scripts/build-ems-binary.mjs).
// The time limits are generous: an emulated arm64 Node and a server started from scratch are slow
// on a loaded 2-core machine; no timing is asserted.
const x64 = join(repoRoot, "dist-bin", "outpost-ems-linux-x64");
const arm64 = join(repoRoot, "dist-bin", "outpost-ems-linux-arm64");
const AARCH64_SYSROOT = "/usr/aarch64-linux-gnu";
const hasQemu = spawnSync("sh", ["-c", "command -v qemu-aarch64-static"]).status === 0;
const hasArm64Libs = existsSync(join(AARCH64_SYSROOT, "lib", "ld-linux-aarch64.so.1"));
const skipArm64 = !(hasQemu && hasArm64Libs) && !process.env.CI;
if (skipArm64) {
  console.warn(
    "ems-binary.test.ts: arm64 case skipped: needs qemu-aarch64-static (qemu-user-static) and the arm64 C/C++ runtime (libstdc++6-arm64-cross)",
  );
}

/** Runs `cmd` with nothing in the environment but PATH=/usr/bin:/bin (and `extra`), as `env -i` does. */
function bare(cmd: string[], extra: string[] = []) {
  return spawnSync("env", ["-i", "PATH=/usr/bin:/bin", ...extra, ...cmd], { encoding: "utf8", timeout: 120_000 });
}

describe("ems binary - one-file executables without a Node installation", () => {
  const dirs: string[] = [];
  // Stopped in afterAll too: a test that times out never reaches its own finally.
  const daemons: ChildProcess[] = [];
  let server: ServerProcess | undefined;

  beforeAll(() => {
    const r = spawnSync(process.execPath, [join(repoRoot, "scripts", "build-ems-binary.mjs")], {
      encoding: "utf8",
      timeout: 540_000,
    });
    if (r.status !== 0) throw new Error(`build-ems-binary failed (${r.status}):\n${r.stderr}`);
  }, 600_000);

  afterAll(async () => {
    for (const d of daemons) if (d.exitCode === null && d.signalCode === null) d.kill("SIGKILL");
    await server?.dispose();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it("ems binary - the x64 executable answers --version in a bare environment", () => {
    const r = bare([x64, "--version"]);
    expect(r.stderr).toBe("");
    expect(r.stdout.trim()).toBe("0.1.0");
    expect(r.status).toBe(0);
  }, 60_000);

  it("ems binary - NODE_OPTIONS in the environment cannot load code into the executable", () => {
    const marker = join(tmpdir(), `ems-node-options-${process.pid}.cjs`);
    writeFileSync(marker, 'process.stdout.write("LOADED ");\n');
    dirs.push(marker);
    const r = bare([x64, "--version"], [`NODE_OPTIONS=--require ${marker}`]);
    expect(r.stdout.trim()).toBe("0.1.0");
    expect(r.status).toBe(0);
    // The same variable does load it into a plain node: the check above can fail.
    const plain = bare([process.execPath, "-e", "0"], [`NODE_OPTIONS=--require ${marker}`]);
    expect(plain.stdout).toBe("LOADED ");
  }, 60_000);

  it("ems binary - csr, whose encoder is loaded only when the command runs, makes a signed request", () => {
    const dir = mkdtempSync(join(tmpdir(), "outpost-ems-bin-csr-"));
    dirs.push(dir);
    const r = bare([x64, "csr", "--cn", "bin-csr", "--dir", join(dir, "ems")], [`HOME=${dir}`]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^-----BEGIN CERTIFICATE REQUEST-----\r?\n[\s\S]+-----END CERTIFICATE REQUEST-----\r?\n$/);
    const csrFile = join(dir, "bin-csr.csr");
    writeFileSync(csrFile, r.stdout);
    const verify = spawnSync("openssl", ["req", "-in", csrFile, "-noout", "-verify", "-subject"], { encoding: "utf8" });
    expect(`${verify.stdout}${verify.stderr}`).toMatch(/verify OK/i);
    expect(verify.stdout).toMatch(/CN ?= ?bin-csr/);
  }, 60_000);

  it("ems binary - the x64 executable imports a bundle, connects to a real server and delivers a property", async () => {
    server = ServerProcess.init();
    const srv = server;
    const bundle = srv.addDevice("dev-binary", ["valve-1"]);
    await srv.start();
    const dir = mkdtempSync(join(tmpdir(), "outpost-ems-bin-"));
    dirs.push(dir);
    const emsDir = join(dir, "ems");
    const home = `HOME=${dir}`;
    const init = bare([x64, "init", "--dir", emsDir, "--bundle", bundle.dir, "--url", srv.edgeUrl], [home]);
    expect(init.status, init.stderr).toBe(0);
    // `config check` walks DNS, TCP, TLS and Auth with the device's real connection.
    const check = bare([x64, "config", "check", "--dir", emsDir], [home]);
    expect(check.status, `${check.stdout}\n${check.stderr}`).toBe(0);
    expect(check.stdout).toMatch(/ok +Auth: connected as dev-binary/);

    const daemon = spawn("env", ["-i", "PATH=/usr/bin:/bin", home, x64, "start", "--dir", emsDir], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    daemons.push(daemon);
    let output = "";
    daemon.stdout.on("data", (d: Buffer) => (output += d.toString()));
    daemon.stderr.on("data", (d: Buffer) => (output += d.toString()));
    const exited = new Promise((r) => daemon.once("exit", r));
    try {
      const socketPath = join(emsDir, "run", "local.sock");
      await waitUntil(
        "the daemon connected",
        async () => (await localHttp({ socketPath }, "GET", "/status")).body?.connection?.state === "connected",
        { timeoutMs: 30_000 },
      ).catch((err: unknown) => {
        throw new Error(`${String(err)}\n${output}`);
      });
      // The launcher re-executed the daemon in place (same pid) with glibc's malloc thresholds fixed.
      const environ = readFileSync(`/proc/${daemon.pid}/environ`, "utf8").split("\0");
      expect(environ).toContain("GLIBC_TUNABLES=glibc.malloc.trim_threshold=131072");
      // What MemoryDenyWriteExecute=yes in the systemd unit refuses: memory both writable and
      // executable, and anonymous memory made executable (a JIT's code space).
      const maps = readFileSync(`/proc/${daemon.pid}/maps`, "utf8").trim().split("\n");
      const executable = maps.map((l) => l.split(/\s+/)).filter(([, perms]) => perms!.includes("x"));
      expect(executable.filter(([, perms]) => perms!.includes("w"))).toEqual([]);
      expect(executable.filter((f) => !f[5]?.startsWith("/") && !/^\[(vdso|vsyscall)\]$/.test(f[5] ?? ""))).toEqual([]);
      expect(executable.length).toBeGreaterThan(0);
      const put = await localHttp({ socketPath }, "PUT", "/things/valve-1/properties/position", { value: 42 });
      expect(put.status, JSON.stringify(put.body)).toBeLessThan(300);
      await waitUntil("valve-1.position on the server", async () => {
        const r = await operatorRequest(
          srv.operatorUrl,
          srv.caPem,
          srv.adminToken,
          "GET",
          "/api/things/valve-1/properties",
        );
        return r.body?.properties?.some(
          (p: { name: string; value: unknown }) => p.name === "position" && p.value === 42,
        );
      });
    } finally {
      daemon.kill("SIGTERM");
      await exited;
    }
  }, 180_000);

  it.skipIf(skipArm64)(
    "ems binary - the arm64 executable answers --version under qemu-aarch64-static",
    () => {
      const r = bare(["qemu-aarch64-static", "-L", AARCH64_SYSROOT, arm64, "--version"]);
      expect(r.stderr).toBe("");
      expect(r.stdout.trim()).toBe("0.1.0");
      expect(r.status).toBe(0);
    },
    120_000,
  );

  it.skipIf(skipArm64)(
    "ems binary - emulated, the arm64 executable's start does not re-execute (an execve it cannot make would abort it)",
    () => {
      const dir = mkdtempSync(join(tmpdir(), "outpost-ems-bin-qemu-"));
      dirs.push(dir);
      // No configuration there: the daemon itself must say so and exit 2, past the launcher.
      const r = bare(["qemu-aarch64-static", "-L", AARCH64_SYSROOT, arm64, "start", "--dir", join(dir, "ems")]);
      expect(r.stderr).toMatch(/no configuration at .*config\.json/);
      expect(r.status).toBe(2);
    },
    120_000,
  );
});
