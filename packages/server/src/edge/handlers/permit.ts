import { ErrorCode, type ItemStatus, Status } from "@outpost/protocol";
import type { Permission } from "../../registry/types.js";
import type { HandlerContext } from "../context.js";

/** Per-item check shared by updates and events: the Thing must be bound here and permitted. Undefined = allowed. */
export function denyItem(
  ctx: HandlerContext,
  thing: string,
  key: string,
  permission: Permission,
  member?: string,
): ItemStatus | undefined {
  if (!ctx.bound.has(thing)) return { key, status: Status.Forbidden, message: "Thing is not bound on this connection" };
  if (!ctx.deps.registry.can({ kind: "device", id: ctx.deviceId }, thing, permission, member)) {
    return { key, status: Status.Forbidden, message: `device lacks ${permission} on ${thing}` };
  }
  return undefined;
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
