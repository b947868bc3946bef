import { type Envelope, type EventMessage, fromWireMap, type ItemStatus } from "@outpost/protocol";
import type { HandlerContext } from "../context.js";
import { applySequencedBatch, batchAck, replyNotApplied } from "./sequenced-batch.js";

/**
 * EventBatch: applies the events in order like {@link applyEvents} and acknowledges the batch like
 * a PropertyUpdate: 200 without items when all were accepted, else one ItemStatus per event.
 */
export function handleEventBatch(ctx: HandlerContext, envelope: Envelope): void {
  const batch = envelope.eventBatch;
  applyEvents(ctx, Number(batch?.epoch ?? 0), batch?.events ?? [], "event.batch", (err, items) =>
    err === undefined ? ctx.reply(envelope, batchAck(items)) : replyNotApplied(ctx, envelope, err),
  );
}

/**
 * Checks (`event.emit`), deduplicates and publishes events; `done` gets one ItemStatus per event,
 * in order, after the commit (or the error that kept them from being applied).
 */
export function applyEvents(
  ctx: HandlerContext,
  epoch: number,
  events: readonly EventMessage[],
  action: string,
  done: (err: unknown, items: ItemStatus[]) => void,
): void {
  applySequencedBatch(
    ctx,
    {
      epoch,
      items: events,
      permission: "event.emit",
      action,
      decode: (event, thing, name, now) => ({
        type: "event",
        deviceId: ctx.deviceId,
        thing,
        name,
        data: fromWireMap(event.data),
        timestampMs: Number(event.timestampMs ?? 0) || now,
      }),
    },
    done,
  );
}
