import {
  type Envelope,
  ErrorCode,
  type ItemStatus,
  OutpostError,
  type PropertyValue,
  Status,
  toWireValue,
} from "@outpost/protocol";
import type { HandlerContext } from "./context.js";

/** Server reads current values: all set properties of the Thing, or the named ones (unknown names get a 404 item). */
export function handlePropertyRead(ctx: HandlerContext, envelope: Envelope): void {
  const read = envelope.propertyRead!;
  const requested = read.names ?? [];
  const thing = ctx.things.get(read.thing ?? "");
  if (!thing) {
    ctx.channel.respondError(
      envelope.requestId,
      new OutpostError(ErrorCode.NotFound, `thing ${read.thing} is not served by this device`, { status: 404 }),
    );
    return;
  }
  const names = requested.length > 0 ? requested : [...thing.properties.keys()];
  const values: PropertyValue[] = [];
  const items: ItemStatus[] = [];
  for (const name of names) {
    const p = thing.properties.get(name);
    if (!p || p.value === undefined) {
      if (requested.length > 0) items.push({ key: name, status: Status.NotFound, message: `no value for ${name}` });
      continue;
    }
    values.push({
      thing: thing.name,
      name,
      value: toWireValue(p.value),
      timestampMs: p.timestampMs,
      quality: p.quality,
    });
  }
  ctx.channel.respond(envelope.requestId, { status: Status.OK, values, items });
}
