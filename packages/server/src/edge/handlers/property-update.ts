import { type Envelope, fromWireValue, type ItemStatus, Status } from "@outpost/protocol";
import { qualityName, toJsonValue } from "../../things/values.js";
import type { PropertyChange } from "../../things/changes.js";
import type { HandlerContext } from "../context.js";
import { auditDenied, denyItem } from "./permit.js";

/**
 * PropertyUpdate: stores and publishes each permitted value and acknowledges the batch per item.
 * Items with a seq at or below the device's delivered seq were applied before (the ack was lost):
 * they are acknowledged again but not applied twice.
 */
export function handlePropertyUpdate(ctx: HandlerContext, envelope: Envelope): void {
  const { registry, hub } = ctx.deps;
  const items: ItemStatus[] = [];
  const denied: ItemStatus[] = [];
  const changes: PropertyChange[] = [];
  const now = Date.now();
  // A batch usually carries many values of few Things: decide each Thing's permission once.
  const refusals = new Map<string, ItemStatus | undefined>();
  const refusalFor = (thing: string, key: string): ItemStatus | undefined => {
    if (!refusals.has(thing)) refusals.set(thing, denyItem(ctx, thing, "", "property.write"));
    const refusal = refusals.get(thing);
    return refusal && { ...refusal, key };
  };
  registry.transaction(() => {
    const delivered = registry.getDeliveredSeq(ctx.deviceId);
    let maxSeq = delivered;
    for (const v of envelope.propertyUpdate?.values ?? []) {
      const thing = v.thing ?? "";
      const name = v.name ?? "";
      const key = `${thing}/${name}`;
      const seq = Number(v.seq ?? 0);
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
      let value: ReturnType<typeof fromWireValue>;
      try {
        value = fromWireValue(v.value);
      } catch (err) {
        items.push({ key, status: Status.BadRequest, message: err instanceof Error ? err.message : "bad value" });
        continue;
      }
      const timestampMs = Number(v.timestampMs ?? 0) || now;
      const quality = qualityName(v.quality);
      registry.setProperty({ thing, name, value: toJsonValue(value), timestampMs, quality, receivedAt: now });
      changes.push({ type: "property", deviceId: ctx.deviceId, thing, name, value, timestampMs, quality });
      items.push({ key, status: Status.OK, message: "" });
    }
    if (maxSeq > delivered) registry.setDeliveredSeq(ctx.deviceId, maxSeq);
  });
  // Subscribers hear of values only once they are committed.
  for (const change of changes) hub.publish(change);
  auditDenied(ctx, "property.update", denied);
  // The common case, every item accepted, is acknowledged without per-item statuses: a batch of
  // 500 values then costs a few bytes to acknowledge instead of ~10 KiB. Any refusal lists them all.
  const allAccepted = items.every((item) => item.status === Status.OK);
  ctx.reply(envelope, { status: Status.OK, items: allAccepted ? [] : items });
}
