import type { Envelope } from "@outpost/protocol";
import type { HandlerContext } from "../context.js";

/**
 * KeepAlive (docs/protocol.md §7): a probe (`reply: false`) is answered with the same timestamp and
 * `reply: true`; an answer is not answered again. KeepAlive is never a request: a `request_id` on
 * it is ignored, and the answer always goes out with request id 0, never as a Response.
 */
export function handleKeepAlive(ctx: Pick<HandlerContext, "send">, envelope: Envelope): void {
  const ka = envelope.keepAlive!;
  if (!ka.reply) ctx.send({ keepAlive: { timestampMs: ka.timestampMs ?? 0, reply: true } });
}
