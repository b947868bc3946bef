import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, renameSync } from "node:fs";
import { ErrorCode, OutpostError } from "@outpost/protocol";
import { writeSecretFile } from "./files.js";

/** Length of a TLS session ticket key set in Node: 16 bytes name, 16 HMAC, 16 AES. */
export const TICKET_KEY_BYTES = 48;

/** TLS session ticket keys that a restarted server still accepts (see {@link TicketKeyFile}). */
export interface TicketKeySource {
  /** The keys to use now; rotates them first when they are older than their maximum age. */
  current(): Buffer;
}

/**
 * TLS session ticket keys kept in a file of the data directory (`tls/ticket-keys.json`, mode 0600
 * like the server's TLS key), so devices resume their TLS sessions across a restart of the server
 * instead of all doing a full handshake at once. Whoever holds these keys can forge a ticket for
 * any device certificate (the application key is still needed to log in): protect the file as
 * the server key. Keys older than `maxAgeMs` are replaced (on start and when `current()` is called
 * later); tickets made with the old keys then fall back to a full handshake.
 */
export class TicketKeyFile implements TicketKeySource {
  readonly path: string;
  readonly #maxAgeMs: number;
  readonly #now: () => number;
  #keys: Buffer;
  #createdAt: number;

  constructor(path: string, options: { maxAgeMs: number; now?: () => number }) {
    this.path = path;
    this.#maxAgeMs = options.maxAgeMs;
    this.#now = options.now ?? Date.now;
    const stored = existsSync(path) ? readKeys(path) : undefined;
    if (stored) {
      this.#keys = stored.keys;
      this.#createdAt = stored.createdAt;
    } else {
      this.#keys = randomBytes(TICKET_KEY_BYTES);
      this.#createdAt = this.#now();
      this.#persist();
    }
    this.current();
  }

  current(): Buffer {
    const now = this.#now();
    if (now - this.#createdAt >= this.#maxAgeMs || this.#createdAt > now + 60_000) {
      this.#keys = randomBytes(TICKET_KEY_BYTES);
      this.#createdAt = now;
      this.#persist();
    }
    return this.#keys;
  }

  #persist(): void {
    const data = `${JSON.stringify({ version: 1, createdAt: new Date(this.#createdAt).toISOString(), keys: this.#keys.toString("base64") })}\n`;
    const tmp = `${this.path}.${process.pid}.tmp`;
    writeSecretFile(tmp, data, { overwrite: true });
    renameSync(tmp, this.path);
  }
}

function readKeys(path: string): { keys: Buffer; createdAt: number } {
  try {
    const parsed = JSON.parse(readFileSync(path, "utf8")) as { keys?: unknown; createdAt?: unknown };
    const keys = typeof parsed.keys === "string" ? Buffer.from(parsed.keys, "base64") : Buffer.alloc(0);
    const createdAt = typeof parsed.createdAt === "string" ? Date.parse(parsed.createdAt) : Number.NaN;
    if (keys.length !== TICKET_KEY_BYTES || Number.isNaN(createdAt)) throw new Error("not a ticket key file");
    return { keys, createdAt };
  } catch (err) {
    throw new OutpostError(
      ErrorCode.InvalidConfig,
      `cannot read the TLS ticket keys ${path}: ${(err as Error).message} (delete the file to make new ones)`,
      { cause: err },
    );
  }
}
