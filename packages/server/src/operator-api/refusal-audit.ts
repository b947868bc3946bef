import type { FastifyRequest } from "fastify";
import type { AuditSink } from "../audit/types.js";
import { wasAudited } from "../things/thing-service.js";
import type { Refusal } from "./http-errors.js";

/** Unauthenticated refusals audited per source address and second; the rest are counted in the next record. */
const UNAUTHENTICATED_PER_SECOND = 5;
const MAX_SOURCES = 10_000;

/**
 * Writes every refused operator request (4xx) to the audit log as `denied` with its source
 * address, once: refusals that the token check or the ThingService already recorded are not
 * written again. Refusals of callers without a valid token are throttled per source, so a flood
 * cannot grow the audit log without bound; a later record carries the count it stands for.
 */
export class RefusalAudit {
  private readonly windows = new Map<string, { start: number; count: number; suppressed: number }>();

  constructor(private readonly audit: AuditSink) {}

  record(req: FastifyRequest, refusal: Refusal, err?: unknown, details: Record<string, unknown> = {}): void {
    if (refusal.status < 400 || refusal.status >= 500 || req.refusalAudited || wasAudited(err)) return;
    req.refusalAudited = true;
    const source = req.ip;
    let suppressed = 0;
    if (!req.caller) {
      const allowed = this.admit(source, Date.now());
      if (allowed === undefined) return;
      suppressed = allowed;
    }
    this.audit.append({
      type: "denied",
      actor: req.caller ? `operator:${req.caller.principal.id}` : "unknown",
      outcome: "failure",
      source,
      code: refusal.code,
      details: {
        action: "operator-api",
        method: req.method,
        path: (req.url.split("?")[0] ?? "").slice(0, 200),
        status: refusal.status,
        reason: refusal.message.slice(0, 200),
        ...(refusal.field !== undefined ? { field: refusal.field } : {}),
        ...(suppressed > 0 ? { suppressed } : {}),
        ...details,
      },
    });
  }

  /** The number of refusals suppressed before this one, or undefined when this one is suppressed. */
  private admit(source: string, now: number): number | undefined {
    let w = this.windows.get(source);
    if (!w || now - w.start >= 1_000) {
      const suppressed = w?.suppressed ?? 0;
      this.windows.delete(source);
      if (this.windows.size >= MAX_SOURCES) this.windows.delete(this.windows.keys().next().value!);
      w = { start: now, count: 0, suppressed };
      this.windows.set(source, w);
    }
    if (w.count >= UNAUTHENTICATED_PER_SECOND) {
      w.suppressed++;
      return undefined;
    }
    w.count++;
    const suppressed = w.suppressed;
    w.suppressed = 0;
    return suppressed;
  }
}
