// Preloaded into benchmarked server processes (`node --expose-gc --import bench/lib/gc-hook.mjs`):
// on SIGUSR2 runs a full GC and prints {"benchGc":true,heapUsed,external} on stdout, so a benchmark can read a
// settled RSS from /proc without changing the server's code.
process.on("SIGUSR2", () => {
  globalThis.gc?.();
  setTimeout(() => {
    globalThis.gc?.();
    const { heapUsed, external } = process.memoryUsage();
    const gc = typeof globalThis.gc === "function";
    process.stdout.write(`${JSON.stringify({ benchGc: true, gc, heapUsed, external })}\n`);
  }, 100);
});
