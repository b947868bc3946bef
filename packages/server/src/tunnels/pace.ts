/**
 * A token bucket in bytes per second with one second of burst: `take(n)` resolves once `n` bytes
 * may pass. Shared by both directions of a session when a bandwidth cap is set.
 */
export class BytePacer {
  private tokens: number;
  private last = Date.now();

  constructor(private readonly bytesPerSecond: number) {
    this.tokens = bytesPerSecond;
  }

  async take(n: number): Promise<void> {
    for (;;) {
      const now = Date.now();
      this.tokens = Math.min(this.bytesPerSecond, this.tokens + ((now - this.last) / 1000) * this.bytesPerSecond);
      this.last = now;
      if (this.tokens >= Math.min(n, this.bytesPerSecond)) {
        this.tokens -= n;
        return;
      }
      const waitMs = Math.ceil(((Math.min(n, this.bytesPerSecond) - this.tokens) / this.bytesPerSecond) * 1000);
      await new Promise((r) => setTimeout(r, Math.max(1, waitMs)));
    }
  }
}
