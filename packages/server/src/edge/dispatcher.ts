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
 * the session itself. Throws ProtocolError for a frame that is never valid in this state. Answers
 * a Promise when the handler waits for the registry before the next frame may be handled (Bind,
 * the permission check of ServiceInvoke); the session waits for it.
 */
export function dispatch(ctx: HandlerContext, envelope: Envelope): Promise<void> | undefined {
  const body = envelope.body;
  switch (body) {
    case "bind":
      return handleBind(ctx, envelope);
    case "unbind":
      handleUnbind(ctx, envelope);
      return undefined;
    case "propertyUpdate":
      handlePropertyUpdate(ctx, envelope);
      return undefined;
    case "event":
      handleEvent(ctx, envelope);
      return undefined;
    case "eventBatch":
      handleEventBatch(ctx, envelope);
      return undefined;
    case "serviceInvoke":
      return handleServiceInvoke(ctx, envelope);
    case "keepAlive":
      handleKeepAlive(ctx, envelope);
      return undefined;
    case "propertyRead":
    case "propertyWrite":
      ctx.replyError(
        envelope,
        new OutpostError(ErrorCode.NotImplemented, "the server has no properties to read or write"),
      );
      return undefined;
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
  return undefined;
}
