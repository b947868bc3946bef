import { type Envelope, ErrorCode, fromWireMap, OutpostError, Status, toWireValue } from "@outpost/protocol";
import type { HandlerContext } from "./context.js";

/** Server invokes a service: runs the handler with a deadline-bound signal and answers with its result. */
export async function handleServiceInvoke(ctx: HandlerContext, envelope: Envelope): Promise<void> {
  const invoke = envelope.serviceInvoke!;
  const thingName = invoke.thing ?? "";
  const serviceName = invoke.service ?? "";
  const timeoutMs = invoke.timeoutMs ?? 0;
  const id = envelope.requestId;
  const handler = ctx.things.get(thingName)?.services.get(serviceName);
  if (!handler) {
    reply(
      ctx,
      id,
      new OutpostError(ErrorCode.NotFound, `no service ${invoke.thing}.${invoke.service}`, { status: 404 }),
    );
    return;
  }
  const signals = [ctx.connectionSignal];
  if (timeoutMs > 0) signals.push(AbortSignal.timeout(timeoutMs));
  const signal = AbortSignal.any(signals);
  try {
    const params = fromWireMap(invoke.params);
    const result = await handler(params, { signal, thing: thingName });
    if (id !== 0 && !ctx.connectionSignal.aborted) {
      ctx.channel.respond(id, { status: Status.OK, result: toWireValue(result) });
    }
  } catch (err) {
    if (!(err instanceof OutpostError)) {
      ctx.logger.warn("service handler failed", { thing: invoke.thing, service: invoke.service, error: String(err) });
    }
    reply(ctx, id, err);
  }
}

function reply(ctx: HandlerContext, id: number, err: unknown): void {
  if (id === 0 || ctx.connectionSignal.aborted) return;
  try {
    ctx.channel.respondError(id, err);
  } catch {
    // the connection closed meanwhile; the server times the call out
  }
}
