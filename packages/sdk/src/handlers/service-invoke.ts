import {
  type Envelope,
  ErrorCode,
  fromWireMap,
  MAX_TIMER_MS,
  OutpostError,
  Status,
  TimeoutError,
  toWireValue,
} from "@outpost/protocol";
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
  const deadline = timeoutMs > 0 ? AbortSignal.timeout(Math.min(timeoutMs, MAX_TIMER_MS)) : undefined;
  const signal = deadline ? AbortSignal.any([ctx.connectionSignal, deadline]) : ctx.connectionSignal;
  const expiry = deadline && expired(deadline, `${thingName}.${serviceName} did not answer within ${timeoutMs} ms`);
  try {
    const params = fromWireMap(invoke.params);
    // A handler that ignores its signal must not hold the request (and one of the peer's
    // concurrent-request slots) past the caller's deadline: answer 408 then, drop a late result.
    const running = Promise.resolve(handler(params, { signal, thing: thingName }));
    const result = await (expiry ? Promise.race([running, expiry.promise]) : running);
    if (id !== 0 && !ctx.connectionSignal.aborted) {
      ctx.channel.respond(id, { status: Status.OK, result: toWireValue(result) });
    }
  } catch (err) {
    // An OutpostError is the handler's chosen answer; anything else is a bug the device must see.
    if (!(err instanceof OutpostError)) {
      ctx.logger.warn("service handler failed", { thing: thingName, service: serviceName, error: String(err) });
      ctx.onError(
        new OutpostError(ErrorCode.Internal, `service ${thingName}.${serviceName} handler threw: ${String(err)}`, {
          cause: err,
        }),
      );
    }
    reply(ctx, id, err);
  } finally {
    expiry?.dispose();
  }
}

function expired(deadline: AbortSignal, message: string): { promise: Promise<never>; dispose(): void } {
  let onAbort = (): void => {};
  const promise = new Promise<never>((_, reject) => {
    onAbort = () => reject(new TimeoutError(message));
    if (deadline.aborted) onAbort();
    else deadline.addEventListener("abort", onAbort, { once: true });
  });
  return { promise, dispose: () => deadline.removeEventListener("abort", onAbort) };
}

function reply(ctx: HandlerContext, id: number, err: unknown): void {
  if (id === 0 || ctx.connectionSignal.aborted) return;
  try {
    ctx.channel.respondError(id, err);
  } catch {
    // the connection closed meanwhile; the server times the call out
  }
}
