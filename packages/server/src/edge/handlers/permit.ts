import { ErrorCode, type ItemStatus, Status } from "@outpost/protocol";
import type { AsyncRegistry } from "../../registry/async-types.js";
import type { Permission } from "../../registry/types.js";
import type { HandlerContext } from "../context.js";

/** One (Thing, member) a batch needs a decision for. */
export interface PermitAsk {
  thing: string;
  member: string;
}

/**
 * Decides `permission` for every (Thing, member) of one batch with a single wait: the Thing must
 * be bound here and the device permitted (the registry's cached decision, which a change of
 * grants, visibility or templates invalidates). Answers one refusal per ask, undefined = allowed.
 */
export async function denyItems(
  registry: Pick<AsyncRegistry, "can">,
  ctx: HandlerContext,
  permission: Permission,
  asks: readonly PermitAsk[],
): Promise<(ItemStatus | undefined)[]> {
  const principal = { kind: "device", id: ctx.deviceId } as const;
  const bound = asks.map((a) => ctx.bound.has(a.thing));
  const decisions = await Promise.all(
    asks.map((a, i) => (bound[i] ? registry.can(principal, a.thing, permission, a.member) : Promise.resolve(false))),
  );
  return asks.map((a, i) => {
    if (!bound[i]) return { key: "", status: Status.Forbidden, message: "Thing is not bound on this connection" };
    if (decisions[i]) return undefined;
    return { key: "", status: Status.Forbidden, message: `device lacks ${permission} on ${a.thing}` };
  });
}

/** Audits the denied items of one batch as a single record (bounded list of keys). */
export function auditDenied(ctx: HandlerContext, action: string, denied: readonly ItemStatus[]): void {
  if (denied.length === 0) return;
  ctx.deps.audit.append({
    type: "denied",
    actor: `device:${ctx.deviceId}`,
    outcome: "failure",
    source: ctx.source,
    code: ErrorCode.Forbidden,
    details: { action, count: denied.length, items: denied.slice(0, 20).map((d) => d.key) },
  });
}
