import { type Envelope, ErrorCode, OutpostError } from "@outpost/protocol";
import type { HandlerContext } from "./handlers/context.js";
import { handleGoodbye } from "./handlers/goodbye.js";
import { handleKeepAlive } from "./handlers/keep-alive.js";
import { handlePropertyRead } from "./handlers/property-read.js";
import { handlePropertyWrite } from "./handlers/property-write.js";
import { handleServiceInvoke } from "./handlers/service-invoke.js";

/**
 * Reads the channel's inbound (non-reply) messages until it closes and hands each to its handler.
 * Requests are handled concurrently so a slow service does not hold up property reads.
 */
export async function dispatch(ctx: HandlerContext): Promise<void> {
  for await (const envelope of ctx.channel.messages) {
    try {
      route(ctx, envelope);
    } catch (err) {
      fail(ctx, envelope, err);
    }
  }
}

function route(ctx: HandlerContext, envelope: Envelope): void {
  switch (envelope.body) {
    case "propertyRead":
      handlePropertyRead(ctx, envelope);
      return;
    case "propertyWrite":
      handlePropertyWrite(ctx, envelope).catch((err: unknown) => fail(ctx, envelope, err));
      return;
    case "serviceInvoke":
      handleServiceInvoke(ctx, envelope).catch((err: unknown) => fail(ctx, envelope, err));
      return;
    case "keepAlive":
      handleKeepAlive(ctx, envelope);
      return;
    case "goodbye":
      handleGoodbye(ctx, envelope);
      return;
    default:
      ctx.logger.warn("unexpected message from the server", { body: envelope.body });
      if (envelope.requestId !== 0) {
        ctx.channel.respondError(
          envelope.requestId,
          new OutpostError(ErrorCode.NotImplemented, `${envelope.body} is not handled by the device`, { status: 501 }),
        );
      }
  }
}

function fail(ctx: HandlerContext, envelope: Envelope, err: unknown): void {
  ctx.logger.warn("handling a server message failed", { body: envelope.body, error: String(err) });
  if (envelope.requestId === 0 || ctx.connectionSignal.aborted) return;
  try {
    ctx.channel.respondError(envelope.requestId, err);
  } catch {
    // connection already gone
  }
}
