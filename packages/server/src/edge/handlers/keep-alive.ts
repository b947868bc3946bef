import type { Envelope } from "@outpost/protocol";
import type { HandlerContext } from "../context.js";

/** KeepAlive: echoes the timestamp when the peer asks for a reply. */
export function handleKeepAlive(ctx: Pick<HandlerContext, "send" | "reply">, envelope: Envelope): void {
  const ka = envelope.keepAlive!;
  if (envelope.requestId !== 0) {
    ctx.reply(envelope, { status: 200 });
    return;
  }
  if (ka.reply) ctx.send({ keepAlive: { timestampMs: ka.timestampMs ?? 0, reply: false } });
}
