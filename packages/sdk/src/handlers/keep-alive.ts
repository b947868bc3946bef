import type { Envelope } from "@outpost/protocol";
import type { HandlerContext } from "./context.js";

/** Answers the server's KeepAlive probes with the same timestamp. */
export function handleKeepAlive(ctx: HandlerContext, envelope: Envelope): void {
  const ka = envelope.keepAlive!;
  if (ka.reply) return;
  ctx.channel.send({ keepAlive: { timestampMs: ka.timestampMs ?? 0, reply: true } });
}
