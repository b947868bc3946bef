import { ErrorCode, type ItemStatus, OutpostError, Status } from "@outpost/protocol";
import { isMemberName } from "../../registry/names.js";
import type { AsyncRegistry } from "../../registry/async-types.js";
import type { Permission } from "../../registry/types.js";
import type { HandlerContext } from "../context.js";
import type { PermitAsk } from "./permit.js";

// Which refusals were already audited on a connection: a device that keeps hitting a bound is
// recorded once per connection and kind, not once per item.
const audited = new WeakMap<HandlerContext, Set<string>>();

function auditOnce(ctx: HandlerContext, kind: string, code: string, details: Record<string, unknown>): void {
  let kinds = audited.get(ctx);
  if (!kinds) audited.set(ctx, (kinds = new Set()));
  if (kinds.has(kind)) return;
  kinds.add(kind);
  ctx.deps.audit.append({
    type: "denied",
    actor: `device:${ctx.deviceId}`,
    outcome: "failure",
    source: ctx.source,
    code,
    details: { action: kind, session: ctx.sessionId, ...details, note: "recorded once per connection" },
  });
}

/**
 * Admits a whole device batch before any of it is applied: events count against the device's
 * events-per-second bucket. Throws 429 OUTPOST_TOO_MANY_REQUESTS when the bucket is empty.
 */
export function admitBatch(ctx: HandlerContext, permission: Permission, count: number): void {
  if (permission !== "event.emit" || count === 0) return;
  const limits = ctx.deps.deviceLimits;
  const waitMs = limits.takeEvents(ctx.deviceId, count);
  if (waitMs === 0) return;
  auditOnce(ctx, "event.rate", ErrorCode.TooManyRequests, { eventsPerSecond: limits.eventsPerSecond });
  throw new OutpostError(
    ErrorCode.TooManyRequests,
    `more than ${limits.eventsPerSecond} events per second from this device: send again in ${waitMs} ms`,
    { status: Status.TooManyRequests },
  );
}

/**
 * What the item bounds of one batch read from the registry inside its transaction: which of its
 * properties exist, and the property count of each Thing it would add one to (counted once per
 * batch, COUNT(*) costs ~90 us at 1000 properties, and kept exact while the batch is decided).
 */
export interface BatchBounds {
  existing: Map<string, Set<string>>;
  counts: Map<string, number>;
}

/** Reads the {@link BatchBounds} of a batch's (Thing, name) pairs: at most two waits per batch. */
export async function readBounds(
  tx: Pick<AsyncRegistry, "hasProperty" | "countProperties">,
  permission: Permission,
  asks: readonly PermitAsk[],
): Promise<BatchBounds> {
  const bounds: BatchBounds = { existing: new Map(), counts: new Map() };
  if (permission !== "property.write") return bounds;
  const named = asks.filter((a) => isMemberName(a.member));
  const has = await Promise.all(named.map((a) => tx.hasProperty(a.thing, a.member)));
  const growing = new Set<string>();
  named.forEach((a, i) => {
    if (!has[i]) growing.add(a.thing);
    else {
      let names = bounds.existing.get(a.thing);
      if (!names) bounds.existing.set(a.thing, (names = new Set()));
      names.add(a.member);
    }
  });
  if (growing.size === 0) return bounds;
  const things = [...growing];
  const counts = await Promise.all(things.map((thing) => tx.countProperties(thing)));
  things.forEach((thing, i) => bounds.counts.set(thing, counts[i]!));
  return bounds;
}

/**
 * Per-item bounds, checked inside the batch's transaction before the item is applied: the name
 * must be a valid property or event name, and a value for a new property must not take its Thing
 * past `maxPropertiesPerThing` (`bounds` counts the new ones). Undefined = within bounds.
 */
export function refuseItem(
  ctx: HandlerContext,
  permission: Permission,
  thing: string,
  name: string,
  key: string,
  bounds: BatchBounds,
): ItemStatus | undefined {
  if (!isMemberName(name)) {
    auditOnce(ctx, "name.invalid", ErrorCode.BadRequest, { thing, length: name.length });
    const what = permission === "event.emit" ? "event" : "property";
    return {
      key: key.length > 300 ? `${key.slice(0, 300)}...` : key,
      status: Status.BadRequest,
      message: `invalid ${what} name: use 1-128 of A-Z a-z 0-9 . _ : / - starting with a letter or digit`,
    };
  }
  if (permission !== "property.write") return undefined;
  const max = ctx.deps.deviceLimits.maxPropertiesPerThing;
  if (bounds.existing.get(thing)?.has(name)) return undefined;
  const count = bounds.counts.get(thing) ?? 0;
  if (count < max) {
    bounds.counts.set(thing, count + 1);
    return undefined;
  }
  auditOnce(ctx, `property.limit:${thing}`, ErrorCode.LimitExceeded, { thing, maxPropertiesPerThing: max });
  return {
    key,
    status: Status.PayloadTooLarge,
    message: `Thing ${thing} already has ${max} properties, the most the server keeps (maxPropertiesPerThing)`,
  };
}
