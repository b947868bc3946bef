// Small helpers for benchmarks that run peers as child processes.
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";

/** Spawns `node args...` and returns it with a function that waits for a stdout JSON line matching `pred`. */
export function spawnNode(args, { env } = {}) {
  const child = spawn(process.execPath, args, { stdio: ["pipe", "pipe", "inherit"], env: { ...process.env, ...env } });
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
  return { child, waitFor };
}

/** Resident set size of a process in bytes, from /proc (Linux). */
export async function rssOf(pid) {
  const { readFile } = await import("node:fs/promises");
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb * 1024;
}
