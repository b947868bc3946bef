import { type Envelope, fromWireMap, Status } from "@outpost/protocol";
import type { HandlerContext } from "../context.js";
import { auditDenied, denyItem } from "./permit.js";

/** Event: deduplicated by seq like property updates, checked for event.emit, then fanned out to subscribers. */
export function handleEvent(ctx: HandlerContext, envelope: Envelope): void {
  const event = envelope.event!;
  const thing = event.thing ?? "";
  const name = event.name ?? "";
  const key = `${thing}/${name}`;
  const { registry, hub } = ctx.deps;
  const seq = Number(event.seq ?? 0);
  const delivered = registry.getDeliveredSeq(ctx.deviceId);
  if (seq > 0 && seq <= delivered) {
    ctx.reply(envelope, {
      status: Status.OK,
      message: "duplicate",
      items: [{ key, status: Status.OK, message: "duplicate" }],
    });
    return;
  }
  if (seq > delivered) registry.setDeliveredSeq(ctx.deviceId, seq);
  const refusal = denyItem(ctx, thing, key, "event.emit");
  if (refusal) {
    auditDenied(ctx, "event", [refusal]);
    ctx.reply(envelope, {
      status: Status.Forbidden,
      code: "OUTPOST_FORBIDDEN",
      message: refusal.message ?? "",
      items: [refusal],
    });
    return;
  }
  let data: ReturnType<typeof fromWireMap>;
  try {
    data = fromWireMap(event.data);
  } catch (err) {
    ctx.replyError(envelope, err);
    return;
  }
  const timestampMs = Number(event.timestampMs ?? 0) || Date.now();
  hub.publish({ type: "event", deviceId: ctx.deviceId, thing, name, data, timestampMs });
  ctx.reply(envelope, { status: Status.OK, items: [{ key, status: Status.OK, message: "" }] });
}
