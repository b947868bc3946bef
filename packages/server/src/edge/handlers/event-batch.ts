import { type Envelope, type EventMessage, fromWireMap, type ItemStatus, Status } from "@outpost/protocol";
import type { EventOccurrence } from "../../things/changes.js";
import type { HandlerContext } from "../context.js";
import { auditDenied, denyItem } from "./permit.js";

/**
 * EventBatch: applies the events in order like {@link applyEvents} and acknowledges the batch like
 * a PropertyUpdate: 200 without items when all were accepted, else one ItemStatus per event.
 */
export function handleEventBatch(ctx: HandlerContext, envelope: Envelope): void {
  const items = applyEvents(ctx, envelope.eventBatch?.events ?? [], "event.batch");
  const allAccepted = items.every((item) => item.status === Status.OK);
  ctx.reply(envelope, { status: Status.OK, items: allAccepted ? [] : items });
}

/**
 * Checks, deduplicates and publishes events, returning one ItemStatus per event in order. Events
 * with a seq at or below the device's delivered seq were applied before (the ack was lost): they
 * are acknowledged as duplicates but not published twice. The delivered seq is advanced in one
 * transaction; subscribers hear of the accepted events only once it has committed.
 */
export function applyEvents(ctx: HandlerContext, events: readonly EventMessage[], action: string): ItemStatus[] {
  const { registry, hub } = ctx.deps;
  const items: ItemStatus[] = [];
  const denied: ItemStatus[] = [];
  const accepted: EventOccurrence[] = [];
  const now = Date.now();
  const refusals = new Map<string, ItemStatus | undefined>();
  const refusalFor = (thing: string, key: string): ItemStatus | undefined => {
    if (!refusals.has(thing)) refusals.set(thing, denyItem(ctx, thing, "", "event.emit"));
    const refusal = refusals.get(thing);
    return refusal && { ...refusal, key };
  };
  registry.transaction(() => {
    const delivered = registry.getDeliveredSeq(ctx.deviceId);
    let maxSeq = delivered;
    for (const event of events) {
      const thing = event.thing ?? "";
      const name = event.name ?? "";
      const key = `${thing}/${name}`;
      const seq = Number(event.seq ?? 0);
      if (seq > 0 && seq <= delivered) {
        items.push({ key, status: Status.OK, message: "duplicate" });
        continue;
      }
      if (seq > maxSeq) maxSeq = seq;
      const refusal = refusalFor(thing, key);
      if (refusal) {
        items.push(refusal);
        denied.push(refusal);
        continue;
      }
      let data: ReturnType<typeof fromWireMap>;
      try {
        data = fromWireMap(event.data);
      } catch (err) {
        items.push({ key, status: Status.BadRequest, message: err instanceof Error ? err.message : "bad data" });
        continue;
      }
      const timestampMs = Number(event.timestampMs ?? 0) || now;
      accepted.push({ type: "event", deviceId: ctx.deviceId, thing, name, data, timestampMs });
      items.push({ key, status: Status.OK, message: "" });
    }
    if (maxSeq > delivered) registry.setDeliveredSeq(ctx.deviceId, maxSeq);
  });
  for (const occurrence of accepted) hub.publish(occurrence);
  auditDenied(ctx, action, denied);
  return items;
}
