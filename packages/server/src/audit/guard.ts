import type { pino } from "pino";
import type { AuditEvent, AuditRecord, AuditSink } from "./types.js";

/** Whether the audit log can be written, as last observed. */
export type AuditHealth =
  | { state: "ok" }
  | {
      state: "failing";
      /** Milliseconds since epoch of the first failed append of this episode. */
      since: number;
      /** Message of the last failure (e.g. "ENOSPC: no space left on device"). */
      error: string;
      /** Records that could not be written since `since`. */
      lost: number;
    };

/**
 * The server's wrapper around its {@link AuditSink}: contains the sink's failures so that a full
 * disk never ends the process nor the connection that triggered the write.
 *
 * - `append` never throws: it returns the stored record, or undefined when the sink failed. A
 *   caller that must not proceed without a record (a device login) refuses when it gets undefined;
 *   that is how the server fails closed while the log cannot be written.
 * - The first failure of an episode is logged once at error level; later ones are counted. The
 *   next append that succeeds ends the episode: it is logged at warn level with the number of
 *   records lost, and an `audit.outage` record is appended so the gap is visible in the log itself.
 * - `flush` and `close` also never reject; a failure is logged.
 */
export class AuditGuard implements AuditSink {
  readonly #sink: AuditSink;
  readonly #logger: pino.Logger;
  #health: AuditHealth = { state: "ok" };

  constructor(sink: AuditSink, logger: pino.Logger) {
    this.#sink = sink;
    this.#logger = logger;
  }

  /** The sink this guard protects. */
  get sink(): AuditSink {
    return this.#sink;
  }

  get health(): AuditHealth {
    return { ...this.#health };
  }

  append(event: AuditEvent): AuditRecord | undefined {
    let record: AuditRecord | undefined;
    try {
      record = this.#sink.append(event);
    } catch (err) {
      this.#failed(err);
      return undefined;
    }
    if (this.#health.state === "failing") this.#recovered();
    return record ?? undefined;
  }

  async flush(): Promise<void> {
    try {
      await this.#sink.flush();
    } catch (err) {
      this.#failed(err, false);
    }
  }

  async close(): Promise<void> {
    try {
      await this.#sink.close();
    } catch (err) {
      this.#logger.error({ err: errorText(err) }, "audit log could not be closed cleanly");
    }
  }

  #failed(err: unknown, lostRecord = true): void {
    const error = errorText(err);
    if (this.#health.state === "failing") {
      this.#health = { ...this.#health, error, lost: this.#health.lost + (lostRecord ? 1 : 0) };
      return;
    }
    this.#health = { state: "failing", since: Date.now(), error, lost: lostRecord ? 1 : 0 };
    this.#logger.error(
      { err: error, code: codeOf(err) },
      "audit log cannot be written: device logins are refused until it can be written again",
    );
  }

  #recovered(): void {
    const outage = this.#health as Extract<AuditHealth, { state: "failing" }>;
    this.#health = { state: "ok" };
    const durationMs = Date.now() - outage.since;
    this.#logger.warn({ lost: outage.lost, durationMs }, "audit log writable again: device logins accepted");
    try {
      this.#sink.append({
        type: "audit.outage",
        actor: "system",
        outcome: "failure",
        details: { since: new Date(outage.since).toISOString(), durationMs, lost: outage.lost, error: outage.error },
      });
    } catch (err) {
      this.#failed(err);
    }
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}
