import { type Envelope, fromWireValue } from "@outpost/protocol";
import type { PropertyState } from "../../registry/types.js";
import type { PropertyChange } from "../../things/changes.js";
import { qualityName, toJsonValue } from "../../things/values.js";
import type { HandlerContext } from "../context.js";
import { applySequencedBatch, batchAck } from "./sequenced-batch.js";

/**
 * PropertyUpdate: acknowledges every value, publishes each accepted one, and stores only the last
 * accepted value of each property (the registry keeps the latest value, so the earlier ones of the
 * same batch would be overwritten in the same transaction anyway).
 */
export function handlePropertyUpdate(ctx: HandlerContext, envelope: Envelope): void {
  const { registry } = ctx.deps;
  const values = envelope.propertyUpdate?.values ?? [];
  const receivedAt = Date.now();
  const items = applySequencedBatch(
    ctx,
    Number(envelope.propertyUpdate?.epoch ?? 0),
    values,
    "property.write",
    "property.update",
    (v, thing, name, now): PropertyChange => ({
      type: "property",
      deviceId: ctx.deviceId,
      thing,
      name,
      value: fromWireValue(v.value),
      timestampMs: Number(v.timestampMs ?? 0) || now,
      quality: qualityName(v.quality),
    }),
    (last) =>
      registry.setProperties(
        last.map((c): PropertyState => ({
          thing: c.thing,
          name: c.name,
          value: toJsonValue(c.value),
          timestampMs: c.timestampMs,
          quality: c.quality,
          receivedAt,
        })),
      ),
  );
  ctx.reply(envelope, batchAck(items));
}
