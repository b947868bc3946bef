import { ErrorCode, type ItemStatus, OutpostError, Status } from "@outpost/protocol";
import { isMemberName } from "../../registry/names.js";
import type { Permission } from "../../registry/types.js";
import type { HandlerContext } from "../context.js";

// Property counts of the Things a batch adds names to, counted once per batch (COUNT(*) costs
// ~90 us at 1000 properties) and kept exact while the batch's transaction runs.
const propertyCounts = new WeakMap<HandlerContext, Map<string, number>>();

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

/** Starts a batch's transaction: property counts are read again from the registry. */
export function startBatch(ctx: HandlerContext): void {
  propertyCounts.delete(ctx);
}

/**
 * Per-item bounds, checked inside the batch's transaction before the item is applied: the name
 * must be a valid property or event name, and a value for a new property must not take its Thing
 * past `maxPropertiesPerThing`. Undefined = within bounds.
 */
export function refuseItem(
  ctx: HandlerContext,
  permission: Permission,
  thing: string,
  name: string,
  key: string,
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
  const { registry, deviceLimits } = ctx.deps;
  const max = deviceLimits.maxPropertiesPerThing;
  if (registry.hasProperty(thing, name)) return undefined;
  let counts = propertyCounts.get(ctx);
  if (!counts) propertyCounts.set(ctx, (counts = new Map()));
  const count = counts.get(thing) ?? registry.countProperties(thing);
  if (count < max) {
    counts.set(thing, count + 1);
    return undefined;
  }
  auditOnce(ctx, `property.limit:${thing}`, ErrorCode.LimitExceeded, { thing, maxPropertiesPerThing: max });
  return {
    key,
    status: Status.PayloadTooLarge,
    message: `Thing ${thing} already has ${max} properties, the most the server keeps (maxPropertiesPerThing)`,
  };
}
