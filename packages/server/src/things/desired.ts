import { ErrorCode, isOutpostError, OutpostError, type OutpostValue } from "@outpost/protocol";
import type { AuditSink } from "../audit/types.js";
import type { AsyncRegistry } from "../registry/async-types.js";
import type { DesiredProperty, ThingRecord } from "../registry/types.js";
import type { ChangeHub, DesiredOutcome } from "./changes.js";
import { fromJsonValue } from "./values.js";

/** A desired value as the Things layer reports it. */
export interface DesiredReading {
  name: string;
  value: OutpostValue;
  /** Operator who wrote it; it is applied with this operator's permissions. */
  setBy: string;
  /** Milliseconds since epoch of the write. */
  setAt: number;
  /** Milliseconds since epoch after which it is no longer applied. */
  expiresAt: number;
}

/** Default lifetime of a desired value: 24 hours. */
export const DEFAULT_DESIRED_TTL_MS = 24 * 60 * 60 * 1000;
/** Longest lifetime a write may ask for: 30 days. */
export const MAX_DESIRED_TTL_MS = 30 * 24 * 60 * 60 * 1000;

/** Writes one value on the device now, through the normal (permission-checked, audited) path. */
export type WriteNow = (thing: ThingRecord, desired: DesiredProperty, value: OutpostValue) => Promise<void>;

/** What {@link DesiredState} needs. */
export interface DesiredStateDeps {
  registry: Pick<AsyncRegistry, "setDesired" | "listDesired" | "deleteDesired" | "getThing">;
  audit: AuditSink;
  hub: ChangeHub;
  /** Whether the Thing's device is connected and has bound it now. */
  isOnline(thing: ThingRecord): boolean;
  write: WriteNow;
  now?: () => number;
}

/** A desired record as a reading. */
export function desiredReading(d: DesiredProperty): DesiredReading {
  return { name: d.name, value: fromJsonValue(d.value), setBy: d.setBy, setAt: d.setAt, expiresAt: d.expiresAt };
}

/**
 * Desired state: property writes held in the registry for a Thing whose device is offline (one
 * per property, the last write wins), applied in write order when the device binds the Thing.
 * Every outcome is published on the change hub (type "desired") and written to the audit log
 * (type "property.desired").
 *
 * A value is removed from the registry only once its outcome is known: a server that stops while
 * applying applies it again on the next bind (a property write is idempotent). A write that fails
 * because the device went away again stays held; any other failure (the device refused it, the
 * writer lost property.write, the device did not answer in time) is final and reported as refused.
 */
export class DesiredState {
  private readonly deps: DesiredStateDeps;
  private readonly now: () => number;
  /** Things with an apply pass running, and whether another pass was asked for meanwhile. */
  private readonly running = new Map<string, boolean>();

  constructor(deps: DesiredStateDeps) {
    this.deps = deps;
    this.now = deps.now ?? Date.now;
  }

  /** Holds `value` for `name` of `thing`, replacing a value held before. */
  async hold(
    thing: ThingRecord,
    name: string,
    value: unknown,
    setBy: string,
    ttlMs: number,
    source?: string,
  ): Promise<DesiredReading> {
    const setAt = this.now();
    const held = await this.deps.registry.setDesired({
      thing: thing.name,
      name,
      value,
      setBy,
      setAt,
      expiresAt: setAt + ttlMs,
    });
    this.report(thing, held, "held", source !== undefined ? { source } : {});
    return desiredReading(held);
  }

  /** Pending (unexpired) desired values of `thing`, in write order. */
  async pending(thing: string): Promise<DesiredReading[]> {
    const now = this.now();
    return (await this.deps.registry.listDesired(thing)).filter((d) => d.expiresAt > now).map(desiredReading);
  }

  /** Removes a pending value; false when there was none. */
  async clear(thing: ThingRecord, name: string, by: string, source?: string): Promise<boolean> {
    const held = (await this.deps.registry.listDesired(thing.name)).find((d) => d.name === name);
    if (!held || !(await this.deps.registry.deleteDesired(thing.name, name, held.seq))) return false;
    this.report(thing, held, "cleared", { actor: `operator:${by}`, ...(source !== undefined ? { source } : {}) });
    return true;
  }

  /** Forgets the value of a property the device just confirmed directly (it supersedes the held one). */
  async superseded(thing: string, name: string): Promise<void> {
    await this.deps.registry.deleteDesired(thing, name);
  }

  /** Reports and removes every expired value (of every Thing). */
  async expire(): Promise<void> {
    const now = this.now();
    for (const d of await this.deps.registry.listDesired()) {
      if (d.expiresAt > now) continue;
      const thing = await this.deps.registry.getThing(d.thing);
      if ((await this.deps.registry.deleteDesired(d.thing, d.name, d.seq)) && thing) this.report(thing, d, "expired");
    }
  }

  /** Applies the held values of `thing` (just bound by its device), one at a time in write order. */
  async apply(thing: ThingRecord): Promise<void> {
    if (this.running.has(thing.name)) {
      this.running.set(thing.name, true);
      return;
    }
    this.running.set(thing.name, false);
    try {
      do {
        this.running.set(thing.name, false);
        await this.applyPass(thing);
      } while (this.running.get(thing.name) === true);
    } finally {
      this.running.delete(thing.name);
    }
  }

  private async applyPass(thing: ThingRecord): Promise<void> {
    for (const d of await this.deps.registry.listDesired(thing.name)) {
      if (d.expiresAt <= this.now()) {
        if (await this.deps.registry.deleteDesired(d.thing, d.name, d.seq)) this.report(thing, d, "expired");
        continue;
      }
      if (!this.deps.isOnline(thing)) return;
      try {
        await this.deps.write(thing, d, fromJsonValue(d.value));
        await this.deps.registry.deleteDesired(d.thing, d.name, d.seq);
        this.report(thing, d, "applied");
      } catch (err) {
        if (!this.deps.isOnline(thing)) return;
        const code = isOutpostError(err) ? err.code : ErrorCode.Internal;
        const message = err instanceof Error ? err.message : String(err);
        if (await this.deps.registry.deleteDesired(d.thing, d.name, d.seq))
          this.report(thing, d, "refused", { code, message });
      }
    }
  }

  private report(
    thing: ThingRecord,
    d: DesiredProperty,
    outcome: DesiredOutcome,
    extra: { code?: string; message?: string; actor?: string; source?: string } = {},
  ): void {
    const failed = outcome === "refused" || outcome === "expired";
    this.deps.audit.append({
      type: "property.desired",
      actor: extra.actor ?? `operator:${d.setBy}`,
      target: `thing:${d.thing}/property:${d.name}`,
      outcome: failed ? "failure" : "success",
      ...(extra.source !== undefined ? { source: extra.source } : {}),
      ...(failed ? { code: extra.code ?? ErrorCode.Timeout } : {}),
      details: { outcome, setBy: d.setBy, setAt: d.setAt, expiresAt: d.expiresAt },
    });
    this.deps.hub.publish({
      type: "desired",
      deviceId: thing.deviceId,
      thing: d.thing,
      name: d.name,
      value: fromJsonValue(d.value),
      outcome,
      setBy: d.setBy,
      setAt: d.setAt,
      expiresAt: d.expiresAt,
      timestampMs: this.now(),
      ...(extra.code !== undefined ? { code: extra.code } : {}),
      ...(extra.message !== undefined ? { message: extra.message } : {}),
    });
  }
}

/** Checks a requested lifetime of a desired value. */
export function checkDesiredTtl(ttlMs: number): number {
  if (!Number.isSafeInteger(ttlMs) || ttlMs < 1 || ttlMs > MAX_DESIRED_TTL_MS) {
    throw new OutpostError(
      ErrorCode.BadRequest,
      `expiresInMs must be an integer from 1 to ${MAX_DESIRED_TTL_MS} (30 days), got ${String(ttlMs)}`,
      { status: 400 },
    );
  }
  return ttlMs;
}
