import {
  type Envelope,
  ErrorCode,
  fromWireMap,
  OutpostError,
  Status,
  TimeoutError,
  toWireValue,
} from "@outpost/protocol";
import type { HandlerContext } from "../context.js";

/**
 * ServiceInvoke from a device: runs a server-side service registered for the Thing (or "*"). The
 * Thing must be bound here and the device must hold service.execute. Runs without blocking the
 * session's read loop, so a slow service does not hold up property updates: the Promise resolves
 * once the call is permitted (or refused), not when the service ends.
 */
export async function handleServiceInvoke(ctx: HandlerContext, envelope: Envelope): Promise<void> {
  const invoke = envelope.serviceInvoke!;
  const call = { thing: invoke.thing ?? "", service: invoke.service ?? "", params: invoke.params };
  const principal = { kind: "device" as const, id: ctx.deviceId };
  if (!ctx.bound.has(call.thing) || !(await ctx.deps.registry.can(principal, call.thing, "service.execute"))) {
    ctx.deps.audit.append({
      type: "denied",
      actor: `device:${ctx.deviceId}`,
      target: `thing:${call.thing}/service:${call.service}`,
      outcome: "failure",
      source: ctx.source,
      code: ErrorCode.Forbidden,
    });
    ctx.replyError(envelope, new OutpostError(ErrorCode.Forbidden, `device may not invoke services of ${call.thing}`));
    return;
  }
  const handler = ctx.deps.services.find(call.thing, call.service);
  if (!handler) {
    ctx.replyError(
      envelope,
      new OutpostError(ErrorCode.NotFound, `no server service ${call.service} for ${call.thing}`),
    );
    return;
  }
  const deadlineMs = Math.min(invoke.timeoutMs || ctx.deps.requestTimeoutMs, ctx.deps.requestTimeoutMs);
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new TimeoutError(`server service ${call.service} took longer than ${deadlineMs} ms`)),
      deadlineMs,
    );
    timer.unref();
  });
  void (async () => {
    try {
      const running = Promise.resolve().then(() =>
        handler(fromWireMap(call.params), { deviceId: ctx.deviceId, thing: call.thing }),
      );
      const result = await Promise.race([running, deadline]);
      ctx.reply(envelope, { status: Status.OK, result: toWireValue(result) });
    } catch (err) {
      ctx.deps.logger.debug({ err, service: call.service, thing: call.thing }, "server service failed");
      try {
        ctx.replyError(envelope, err);
      } catch {
        // the connection closed while the service ran
      }
    } finally {
      clearTimeout(timer);
    }
  })();
}
