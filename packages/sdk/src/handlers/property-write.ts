import {
  type Envelope,
  ErrorCode,
  fromWireValue,
  type ItemStatus,
  OutpostError,
  type PropertyValue,
  Status,
  statusFromError,
} from "@outpost/protocol";
import type { HandlerContext } from "./context.js";

/**
 * Server writes values: each is checked (Thing bound, property declared and writable, type), passed
 * to `onWrite`, then stored locally. One ItemStatus per value, in order.
 */
export async function handlePropertyWrite(ctx: HandlerContext, envelope: Envelope): Promise<void> {
  const items: ItemStatus[] = [];
  for (const v of envelope.propertyWrite?.values ?? []) {
    try {
      await applyWrite(ctx, v);
      items.push({ key: v.name ?? "", status: Status.OK });
    } catch (err) {
      const { status, message } = statusFromError(err);
      items.push({ key: v.name ?? "", status, message });
    }
  }
  const failed = items.filter((i) => i.status !== Status.OK).length;
  ctx.channel.respond(envelope.requestId, {
    status: Status.OK,
    items,
    ...(failed > 0 && { message: `${failed} of ${items.length} writes refused` }),
  });
}

async function applyWrite(ctx: HandlerContext, v: PropertyValue): Promise<void> {
  const thing = ctx.things.get(v.thing ?? "");
  if (!thing)
    throw new OutpostError(ErrorCode.NotFound, `thing ${v.thing} is not served by this device`, { status: 404 });
  const p = thing.properties.get(v.name ?? "");
  if (!p) throw new OutpostError(ErrorCode.NotFound, `property ${v.name} is not declared`, { status: 404 });
  if (!p.writable) throw new OutpostError(ErrorCode.Forbidden, `property ${v.name} is not writable`, { status: 403 });
  const value = fromWireValue(v.value);
  p.check(value);
  await p.onWrite?.(value);
  // The server already has the written value: record it as pushed so on-change does not echo it.
  p.update(value, Date.now());
  p.markSynced();
}
