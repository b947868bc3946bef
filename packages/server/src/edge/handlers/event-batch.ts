import { type Envelope, type EventMessage, fromWireMap, type ItemStatus } from "@outpost/protocol";
import type { HandlerContext } from "../context.js";
import { applySequencedBatch, batchAck } from "./sequenced-batch.js";

/**
 * EventBatch: applies the events in order like {@link applyEvents} and acknowledges the batch like
 * a PropertyUpdate: 200 without items when all were accepted, else one ItemStatus per event.
 */
export function handleEventBatch(ctx: HandlerContext, envelope: Envelope): void {
  const batch = envelope.eventBatch;
  ctx.reply(envelope, batchAck(applyEvents(ctx, Number(batch?.epoch ?? 0), batch?.events ?? [], "event.batch")));
}

/** Checks (`event.emit`), deduplicates and publishes events; one ItemStatus per event, in order. */
export function applyEvents(
  ctx: HandlerContext,
  epoch: number,
  events: readonly EventMessage[],
  action: string,
): ItemStatus[] {
  return applySequencedBatch(ctx, epoch, events, "event.emit", action, (event, thing, name, now) => ({
    type: "event",
    deviceId: ctx.deviceId,
    thing,
    name,
    data: fromWireMap(event.data),
    timestampMs: Number(event.timestampMs ?? 0) || now,
  }));
}
