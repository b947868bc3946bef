import { type Envelope, ErrorCode, OutpostError, ProtocolError } from "@outpost/protocol";
import type { HandlerContext } from "./context.js";
import { handleBind, handleUnbind } from "./handlers/bind.js";
import { handleEvent } from "./handlers/event.js";
import { handleEventBatch } from "./handlers/event-batch.js";
import { handleKeepAlive } from "./handlers/keep-alive.js";
import { handlePropertyUpdate } from "./handlers/property-update.js";
import { handleServiceInvoke } from "./handlers/service-invoke.js";

/**
 * Routes one inbound envelope of an authenticated session to its handler. Goodbye is handled by
 * the session itself. Throws ProtocolError for a frame that is never valid in this state.
 */
export function dispatch(ctx: HandlerContext, envelope: Envelope): void {
  const body = envelope.body;
  switch (body) {
    case "bind":
      handleBind(ctx, envelope);
      return;
    case "unbind":
      handleUnbind(ctx, envelope);
      return;
    case "propertyUpdate":
      handlePropertyUpdate(ctx, envelope);
      return;
    case "event":
      handleEvent(ctx, envelope);
      return;
    case "eventBatch":
      handleEventBatch(ctx, envelope);
      return;
    case "serviceInvoke":
      handleServiceInvoke(ctx, envelope);
      return;
    case "keepAlive":
      handleKeepAlive(ctx, envelope);
      return;
    case "propertyRead":
    case "propertyWrite":
      ctx.replyError(
        envelope,
        new OutpostError(ErrorCode.NotImplemented, "the server has no properties to read or write"),
      );
      return;
    case "hello":
    case "auth":
    case "helloAck":
    case "authResult":
    case "response":
    case "multipart":
    case "goodbye":
    case undefined:
      throw new ProtocolError(ErrorCode.UnexpectedFrame, `unexpected ${body ?? "empty"} frame after authentication`);
  }
}
