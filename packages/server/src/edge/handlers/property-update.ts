import { type Envelope, fromWireValue } from "@outpost/protocol";
import type { PropertyState } from "../../registry/types.js";
import type { PropertyChange } from "../../things/changes.js";
import { qualityName, toJsonValue } from "../../things/values.js";
import type { HandlerContext } from "../context.js";
import { applySequencedBatch, batchAck, replyNotApplied } from "./sequenced-batch.js";

/**
 * PropertyUpdate: acknowledges every value, publishes each accepted one, and stores only the last
 * accepted value of each property (the registry keeps the latest value, so the earlier ones of the
 * same batch would be overwritten in the same transaction anyway).
 */
export function handlePropertyUpdate(ctx: HandlerContext, envelope: Envelope): void {
  const receivedAt = Date.now();
  applySequencedBatch(
    ctx,
    {
      epoch: Number(envelope.propertyUpdate?.epoch ?? 0),
      items: envelope.propertyUpdate?.values ?? [],
      permission: "property.write",
      action: "property.update",
      decode: (v, thing, name, now): PropertyChange => ({
        type: "property",
        deviceId: ctx.deviceId,
        thing,
        name,
        value: fromWireValue(v.value),
        timestampMs: Number(v.timestampMs ?? 0) || now,
        quality: qualityName(v.quality),
      }),
      store: (tx, last) =>
        tx.setProperties(
          last.map((c): PropertyState => ({
            thing: c.thing,
            name: c.name,
            value: toJsonValue(c.value),
            timestampMs: c.timestampMs,
            quality: c.quality,
            receivedAt,
          })),
        ),
    },
    (err, items) => (err === undefined ? ctx.reply(envelope, batchAck(items)) : replyNotApplied(ctx, envelope, err)),
  );
}
