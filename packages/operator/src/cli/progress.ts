/**
 * Progress of a transfer on stdout: a bar with bytes, rate and ETA redrawn in place on a terminal,
 * else one plain line per 10 %.
 */
export class Progress {
  private readonly start = Date.now();
  private lastDecile = -1;
  private lastDraw = 0;
  private drawn = false;

  constructor(
    private readonly label: string,
    private readonly out: NodeJS.WriteStream = process.stdout,
    private readonly tty = out.isTTY === true,
  ) {}

  update(done: number, total: number): void {
    const fraction = total > 0 ? Math.min(1, done / total) : 1;
    const elapsed = Math.max(0.001, (Date.now() - this.start) / 1000);
    const rate = done / elapsed;
    if (this.tty) {
      const now = Date.now();
      if (now - this.lastDraw < 100 && fraction < 1) return;
      this.lastDraw = now;
      const width = 24;
      const filled = Math.round(fraction * width);
      const eta = rate > 0 && total > done ? `ETA ${duration((total - done) / rate)}` : "";
      this.out.write(
        `\r${this.label} [${"#".repeat(filled)}${".".repeat(width - filled)}] ${String(Math.floor(fraction * 100)).padStart(3)}% ` +
          `${bytes(done)}/${bytes(total)} ${bytes(rate)}/s ${eta}\x1b[K`,
      );
      this.drawn = true;
      return;
    }
    const decile = Math.floor(fraction * 10);
    if (decile > this.lastDecile) {
      this.lastDecile = decile;
      this.out.write(`${this.label} ${decile * 10}% ${bytes(done)}/${bytes(total)} ${bytes(rate)}/s\n`);
    }
  }

  /** Ends the bar's line. */
  finish(): void {
    if (this.tty && this.drawn) this.out.write("\n");
    this.drawn = false;
  }
}

/** Bytes in IEC units, e.g. "12.3 MiB". */
export function bytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${Math.round(v)} B` : `${v.toFixed(1)} ${units[u]}`;
}

function duration(seconds: number): string {
  if (seconds < 60) return `${Math.ceil(seconds)}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${String(Math.ceil(seconds % 60)).padStart(2, "0")}s`;
  return `${Math.floor(seconds / 3600)}h${String(Math.floor((seconds % 3600) / 60)).padStart(2, "0")}m`;
}
