// Small helpers for benchmarks that run peers as child processes.
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";

/**
 * Spawns `node args...` and returns it with a function that waits for a stdout JSON line matching
 * `pred`. With `quietStderr` the child's stderr is kept (last 8 KiB, `stderrTail()`) instead of
 * being passed through.
 */
export function spawnNode(args, { env, quietStderr = false } = {}) {
  const child = spawn(process.execPath, args, {
    stdio: ["pipe", "pipe", quietStderr ? "pipe" : "inherit"],
    env: { ...process.env, ...env },
  });
  let tail = "";
  child.stderr?.on("data", (chunk) => {
    tail = (tail + chunk.toString("utf8")).slice(-8192);
  });
  const waiters = [];
  createInterface({ input: child.stdout }).on("line", (line) => {
    let msg;
    try {
      msg = JSON.parse(line);
    } catch {
      return;
    }
    for (const w of [...waiters]) {
      if (w.pred(msg)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(msg);
      }
    }
  });
  const waitFor = (pred, timeoutMs = 30_000) =>
    new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error("child did not answer in time")), timeoutMs);
      waiters.push({
        pred,
        resolve: (m) => {
          clearTimeout(t);
          resolve(m);
        },
      });
    });
  return { child, waitFor, stderrTail: () => tail };
}

/** Resident set size of a process in bytes, from /proc (Linux). */
export async function rssOf(pid) {
  const { readFile } = await import("node:fs/promises");
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb * 1024;
}

/** CPU time (user + system) a process has used so far, in seconds, from /proc (Linux). */
export async function cpuSecondsOf(pid) {
  const { readFile } = await import("node:fs/promises");
  const stat = await readFile(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in USER_HZ (100 on Linux)
}
