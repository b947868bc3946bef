// CPU time of processes and threads from /proc (Linux), in seconds, for benchmarks that report CPU
// seconds per GiB next to their wall-clock ratios.
import { readdirSync, readFileSync } from "node:fs";

const TICKS = 100; // sysconf(_SC_CLK_TCK) on Linux

function fields(path) {
  const st = readFileSync(path, "utf8");
  return st.slice(st.lastIndexOf(")") + 2).split(" ");
}

/**
 * `{ all, main, children }` of process `pid`: user + system seconds of all its threads, of its
 * main thread alone, and of its children that exited and were waited for.
 */
export function cpuOf(pid) {
  const f = fields(`/proc/${pid}/stat`);
  const m = fields(`/proc/${pid}/task/${pid}/stat`);
  return {
    all: (Number(f[11]) + Number(f[12])) / TICKS,
    main: (Number(m[11]) + Number(m[12])) / TICKS,
    children: (Number(f[13]) + Number(f[14])) / TICKS,
  };
}

/** Seconds of each thread of process `pid`, by thread id. */
export function threadsOf(pid) {
  const out = new Map();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const f = fields(`/proc/${pid}/task/${tid}/stat`);
      out.set(tid, (Number(f[11]) + Number(f[12])) / TICKS);
    } catch {
      // the thread ended meanwhile
    }
  }
  return out;
}

/**
 * The main thread's and the busiest other thread's (in the file benchmark, the chunk worker's)
 * seconds between two {@link threadsOf} results of process `pid`.
 */
export function threadSplit(pid, a, b) {
  const main = (b.get(String(pid)) ?? 0) - (a.get(String(pid)) ?? 0);
  const others = [...b].filter(([tid]) => tid !== String(pid)).map(([tid, s]) => s - (a.get(tid) ?? 0));
  return { main, busiest: Math.max(0, ...others) };
}

/** The difference `b - a` of two {@link cpuOf} results. */
export function cpuDelta(a, b) {
  return { all: b.all - a.all, main: b.main - a.main, children: b.children - a.children };
}
