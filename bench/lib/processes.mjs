// Helpers the benchmarks share: a free loopback port, a child process awaited until a line says it
// is ready, and quantiles of samples.
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { createInterface } from "node:readline";

/** A TCP port free on 127.0.0.1 at the time of the call. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/**
 * Spawns `cmd` (added to `children` for cleanup) and resolves with `{ child, value }` once `ready`
 * returns a truthy value for a line of its output; rejects when it exits first or after 20 s.
 */
export function startProcess(children, cmd, args, ready) {
  const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let log = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${cmd} did not start:\n${log}`)), 20_000);
    const onLine = (line) => {
      log += `${line}\n`;
      const v = ready(line);
      if (v) {
        clearTimeout(timer);
        resolve({ child, value: v });
      }
    };
    createInterface({ input: child.stdout }).on("line", onLine);
    createInterface({ input: child.stderr }).on("line", onLine);
    child.once("exit", (code) => reject(new Error(`${cmd} exited ${code}:\n${log}`)));
  });
}

/** The q-quantile (0..1) of `xs`, NaN for none. */
export function quantile(xs, q) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * q))] ?? NaN;
}

/** Stops every child still running (SIGTERM, SIGKILL after 10 s) and resolves once all have exited. */
export function stopAll(children) {
  return Promise.all(
    children.map((c) =>
      c.exitCode === null && c.signalCode === null
        ? new Promise((r) => {
            const kill = setTimeout(() => c.kill("SIGKILL"), 10_000);
            c.once("exit", () => {
              clearTimeout(kill);
              r();
            });
            c.kill("SIGTERM");
          })
        : undefined,
    ),
  );
}
