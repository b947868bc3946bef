import { isOutpostError, statusFromError } from "@outpost/protocol";
import type { pino } from "pino";

/**
 * Logs what goes wrong while serving one connection, without letting the peer fill the log:
 * - a peer fault (an OutpostError whose status is 4xx: bad input, a refused item, a limit) is a
 *   warning with its code and message and no stack trace, since it says nothing about the server;
 * - anything else (a bug, a storage failure) is an error with its stack;
 * each at most once per connection; later ones are debug lines, and counted.
 */
export class ConnectionFaultLog {
  readonly #logger: pino.Logger;
  readonly #fields: () => Record<string, unknown>;
  #peerFaults = 0;
  #internalFaults = 0;

  /** `fields` gives the connection's identifying fields (session, device, source) at logging time. */
  constructor(logger: pino.Logger, fields: () => Record<string, unknown>) {
    this.#logger = logger;
    this.#fields = fields;
  }

  /** Faults seen so far on this connection. */
  get counts(): { peer: number; internal: number } {
    return { peer: this.#peerFaults, internal: this.#internalFaults };
  }

  report(err: unknown, what: string): void {
    const { status, code, message } = statusFromError(err);
    if (isOutpostError(err) && status < 500) {
      this.#peerFaults += 1;
      const line = { ...this.#fields(), code, status, reason: message };
      if (this.#peerFaults === 1) this.#logger.warn(line, `${what}: refused a request from the peer`);
      else this.#logger.debug({ ...line, count: this.#peerFaults }, `${what}: refused a request from the peer`);
      return;
    }
    this.#internalFaults += 1;
    if (this.#internalFaults === 1) this.#logger.error({ ...this.#fields(), err }, `${what} failed`);
    else this.#logger.debug({ ...this.#fields(), err, count: this.#internalFaults }, `${what} failed`);
  }
}
