import { type Envelope, ErrorCode, type ItemStatus, Status } from "@outpost/protocol";
import type { HandlerContext } from "../context.js";

/**
 * Bind: only Things assigned to this device; per Thing 200, 403 (another device's) or 404 (unknown).
 * The session reads the next frame only once it resolved, so what follows sees the Things bound.
 */
export async function handleBind(ctx: HandlerContext, envelope: Envelope): Promise<void> {
  const denied: string[] = [];
  const bound: string[] = [];
  const things = envelope.bind?.things ?? [];
  const { registry } = ctx.deps;
  const device = { kind: "device", id: ctx.deviceId } as const;
  // One wait for the whole Bind, however many Things it names.
  const [records, visible] = await Promise.all([
    Promise.all(things.map((thing) => registry.getThing(thing))),
    Promise.all(things.map((thing) => registry.visible(device, "thing", thing))),
  ]);
  const items: ItemStatus[] = things.map((thing, i) => {
    const record = records[i];
    // A Thing invisible to this device is answered like one that does not exist.
    if (!record || !visible[i]) {
      return { key: thing, status: Status.NotFound, message: "unknown Thing" };
    }
    if (record.deviceId !== ctx.deviceId) {
      denied.push(thing);
      return { key: thing, status: Status.Forbidden, message: "Thing is assigned to another device" };
    }
    ctx.bound.add(thing);
    bound.push(thing);
    return { key: thing, status: Status.OK, message: "" };
  });
  // One record per Bind, not per Thing: a batch of foreign names must not multiply audit writes.
  if (denied.length > 0) {
    ctx.deps.audit.append({
      type: "denied",
      actor: `device:${ctx.deviceId}`,
      target: `thing:${denied[0]}`,
      outcome: "failure",
      source: ctx.source,
      code: ErrorCode.Forbidden,
      details: { action: "bind", count: denied.length, items: denied.slice(0, 20) },
    });
  }
  ctx.reply(envelope, { status: Status.OK, items });
  if (bound.length > 0) ctx.deps.onBind?.(ctx.deviceId, bound);
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
