import { type Envelope, ErrorCode, type ItemStatus, Status } from "@outpost/protocol";
import type { HandlerContext } from "../context.js";

/** Bind: only Things assigned to this device; per Thing 200, 403 (another device's) or 404 (unknown). */
export function handleBind(ctx: HandlerContext, envelope: Envelope): void {
  const items: ItemStatus[] = (envelope.bind?.things ?? []).map((thing) => {
    const record = ctx.deps.registry.getThing(thing);
    if (!record) return { key: thing, status: Status.NotFound, message: "unknown Thing" };
    if (record.deviceId !== ctx.deviceId) {
      ctx.deps.audit.append({
        type: "denied",
        actor: `device:${ctx.deviceId}`,
        target: `thing:${thing}`,
        outcome: "failure",
        source: ctx.source,
        code: ErrorCode.Forbidden,
        details: { action: "bind" },
      });
      return { key: thing, status: Status.Forbidden, message: "Thing is assigned to another device" };
    }
    ctx.bound.add(thing);
    return { key: thing, status: Status.OK, message: "" };
  });
  ctx.reply(envelope, { status: Status.OK, items });
}

/** Unbind: per Thing 200 when it was bound on this connection, else 404. */
export function handleUnbind(ctx: HandlerContext, envelope: Envelope): void {
  const items: ItemStatus[] = (envelope.unbind?.things ?? []).map((thing) =>
    ctx.bound.delete(thing)
      ? { key: thing, status: Status.OK, message: "" }
      : { key: thing, status: Status.NotFound, message: "Thing is not bound" },
  );
  ctx.reply(envelope, { status: Status.OK, items });
}
