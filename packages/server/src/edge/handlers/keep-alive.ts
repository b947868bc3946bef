import type { Envelope } from "@outpost/protocol";
import type { HandlerContext } from "../context.js";

/**
 * KeepAlive (docs/protocol.md §7): a probe (`reply: false`) is answered with the same timestamp and
 * `reply: true`; an answer is not answered again. A KeepAlive sent as a request is acknowledged
 * with a Response instead, so the peer's request does not hang.
 */
export function handleKeepAlive(ctx: Pick<HandlerContext, "send" | "reply">, envelope: Envelope): void {
  const ka = envelope.keepAlive!;
  if (envelope.requestId !== 0) {
    ctx.reply(envelope, { status: 200 });
    return;
  }
  if (!ka.reply) ctx.send({ keepAlive: { timestampMs: ka.timestampMs ?? 0, reply: true } });
}
