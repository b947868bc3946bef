/**
 * The last TLS session each server url gave this client, so that the next connection resumes it:
 * an abbreviated handshake that costs the server about half the CPU of a full one, which is what
 * lets a whole fleet return quickly after a server restart. The device certificate is part of the
 * resumed session, so the server sees the same identity (and still checks it for revocation).
 * Held in memory only; one cache per client (per device identity).
 */
export class TlsSessionCache {
  readonly #sessions = new Map<string, Buffer>();

  get(url: string): Buffer | undefined {
    return this.#sessions.get(url);
  }

  set(url: string, session: Buffer): void {
    this.#sessions.set(url, session);
  }

  delete(url: string): void {
    this.#sessions.delete(url);
  }
}
