import { type Envelope, ErrorCode, Status } from "@outpost/protocol";
import type { HandlerContext } from "../context.js";
import { applyEvents } from "./event-batch.js";
import { replyNotApplied } from "./sequenced-batch.js";

/** Event: one event applied like an EventBatch of one; a refused event is answered with its own status. */
export function handleEvent(ctx: HandlerContext, envelope: Envelope): void {
  const event = envelope.event!;
  applyEvents(ctx, Number(event.epoch ?? 0), [event], "event", (err, [item]) => {
    if (err !== undefined) {
      replyNotApplied(ctx, envelope, err);
      return;
    }
    const status = item?.status ?? Status.OK;
    if (status === Status.OK) {
      ctx.reply(envelope, { status, message: item?.message ?? "", items: item ? [item] : [] });
      return;
    }
    ctx.reply(envelope, {
      status,
      code:
        status === Status.Forbidden
          ? ErrorCode.Forbidden
          : status === Status.Conflict
            ? ErrorCode.Conflict
            : ErrorCode.BadRequest,
      message: item?.message ?? "",
      items: item ? [item] : [],
    });
  });
}
