import type { Envelope } from "@outpost/protocol";
import type { HandlerContext } from "./context.js";

/** The server is closing: remember why (and its reconnect hint), then let the transport close. */
export function handleGoodbye(ctx: HandlerContext, envelope: Envelope): void {
  const goodbye = envelope.goodbye!;
  ctx.logger.info("server said goodbye", {
    reason: goodbye.reason,
    message: goodbye.message,
    reconnectAfterMs: goodbye.reconnectAfterMs,
  });
  ctx.onGoodbye(goodbye);
}
