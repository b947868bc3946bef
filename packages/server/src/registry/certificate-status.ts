import type Database from "better-sqlite3";
import type { CertificateStatus } from "./types.js";

/** How often the cache looks for changes made by other processes, in ms. */
const RECHECK_MS = 250;

/** Most statuses kept in memory; the cache starts over beyond it. */
const MAX_ENTRIES = 100_000;

/**
 * Certificate status per device and serial, asked at every TLS handshake, kept in memory. Cleared
 * by the registry's own writes that change a status ({@link clear}) and when SQLite's data_version
 * says another connection committed (read at most every 250 ms: reading it takes the database's
 * read lock, about 20 µs).
 */
export class CertificateStatusCache {
  readonly #statuses = new Map<string, CertificateStatus>();
  #dataVersion: Database.Statement | undefined;
  #seenDataVersion = -1;
  #checkedAt = 0;

  constructor(
    private readonly db: Database.Database,
    private readonly lookUp: (deviceId: string, serial: string) => CertificateStatus,
  ) {}

  get(deviceId: string, serialNumber: string): CertificateStatus {
    const now = Date.now();
    if (now - this.#checkedAt >= RECHECK_MS || now < this.#checkedAt) {
      this.#checkedAt = now;
      this.#dataVersion ??= this.db.prepare("PRAGMA data_version").pluck();
      const version = this.#dataVersion.get() as number;
      if (version !== this.#seenDataVersion) {
        this.#statuses.clear();
        this.#seenDataVersion = version;
      }
    }
    const serial = String(serialNumber).toUpperCase();
    const key = `${deviceId}\0${serial}`;
    const cached = this.#statuses.get(key);
    if (cached !== undefined) return cached;
    const status = this.lookUp(deviceId, serial);
    if (this.#statuses.size >= MAX_ENTRIES) this.#statuses.clear();
    this.#statuses.set(key, status);
    return status;
  }

  clear(): void {
    this.#statuses.clear();
  }
}
