import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A free TCP port on 127.0.0.1 (closed again before it is returned). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** A real OpenSSH server on 127.0.0.1 with its own host key, accepting one client key for the current user. */
export interface Sshd {
  port: number;
  dir: string;
  /** The client's private key file. */
  identity: string;
  /** ssh/scp options: the identity, no known-hosts file, batch mode. */
  clientOptions: string[];
  stop(): Promise<void>;
}

export async function startSshd(): Promise<Sshd> {
  const dir = mkdtempSync(join(tmpdir(), "outpost-sshd-"));
  mkdirSync("/run/sshd", { recursive: true });
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "host_key")]);
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "client_key")]);
  writeFileSync(join(dir, "authorized_keys"), readFileSync(join(dir, "client_key.pub")));
  const port = await freePort();
  const child: ChildProcess = spawn(
    "/usr/sbin/sshd",
    [
      "-D",
      "-e",
      "-f",
      "/dev/null",
      "-o",
      `Port=${port}`,
      "-o",
      "ListenAddress=127.0.0.1",
      "-o",
      `HostKey=${join(dir, "host_key")}`,
      "-o",
      `AuthorizedKeysFile=${join(dir, "authorized_keys")}`,
      "-o",
      "StrictModes=no",
      "-o",
      "UsePAM=no",
      "-o",
      "PidFile=none",
      "-o",
      "PermitRootLogin=prohibit-password",
      "-o",
      "Subsystem=sftp internal-sftp",
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let log = "";
  child.stderr!.on("data", (d: Buffer) => (log += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`sshd did not start:\n${log}`)), 10_000);
    const check = () => {
      if (log.includes("Server listening")) {
        clearTimeout(timer);
        resolve();
      } else setTimeout(check, 20);
    };
    child.once("exit", (code) => reject(new Error(`sshd exited ${code}:\n${log}`)));
    check();
  });
  const identity = join(dir, "client_key");
  return {
    port,
    dir,
    identity,
    clientOptions: [
      "-i",
      identity,
      "-o",
      "StrictHostKeyChecking=no",
      "-o",
      "UserKnownHostsFile=/dev/null",
      "-o",
      "BatchMode=yes",
      "-o",
      "LogLevel=ERROR",
    ],
    async stop() {
      child.kill("SIGTERM");
      await new Promise((r) => (child.exitCode !== null ? r(undefined) : child.once("exit", r)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
