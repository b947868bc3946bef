import { type ItemStatus, type Response, Status } from "@outpost/protocol";
import { markApplied, seqState } from "../../registry/delivery.js";
import type { Permission } from "../../registry/types.js";
import type { ThingChange } from "../../things/changes.js";
import type { HandlerContext } from "../context.js";
import { admitBatch, refuseItem } from "./item-limits.js";
import { auditDenied, denyItem } from "./permit.js";

/** What every item of a device batch carries: its Thing, its name and its delivery seq. */
export interface SequencedItem {
  thing?: string | null;
  name?: string | null;
  seq?: number | null;
}

/** Turns one permitted item into the change it makes; throws for bad data (that item is answered 400). */
export type DecodeItem<T, C extends ThingChange> = (item: T, thing: string, name: string, now: number) => C;

/**
 * Applies a device batch (property values or events) of one queue epoch in order, in one registry
 * transaction together with the epoch's delivery record, and returns one ItemStatus per item:
 * - an item whose seq the record shows applied (the ack was lost) is acknowledged as a duplicate
 *   and not applied again; one the record can no longer tell about is refused with 409 (the
 *   device reports it failed); seq 0 is not deduplicated;
 * - only applied items enter the record: a refused item never marks its seq delivered;
 * - `permission` and the bound check are decided once per Thing (a batch carries few Things);
 * - an item `decode` throws for is answered 400 and the others still apply;
 * - the device's bounds ({@link admitBatch}, {@link refuseItem}) apply before anything is stored;
 * - `store` persists each accepted change inside the transaction (a storage failure aborts the
 *   whole batch, which is then not acknowledged and will be re-sent).
 * Subscribers hear of the changes only after the commit; denials are audited once per batch.
 */
export function applySequencedBatch<T extends SequencedItem, C extends ThingChange>(
  ctx: HandlerContext,
  epoch: number,
  batch: readonly T[],
  permission: Permission,
  action: string,
  decode: DecodeItem<T, C>,
  store?: (change: C) => void,
): ItemStatus[] {
  admitBatch(ctx, permission, batch.length);
  const { registry, hub } = ctx.deps;
  const items: ItemStatus[] = [];
  const denied: ItemStatus[] = [];
  const changes: ThingChange[] = [];
  const now = Date.now();
  const refusals = new Map<string, ItemStatus | undefined>();
  const refusalFor = (thing: string, key: string): ItemStatus | undefined => {
    if (!refusals.has(thing)) refusals.set(thing, denyItem(ctx, thing, "", permission));
    const refusal = refusals.get(thing);
    return refusal && { ...refusal, key };
  };
  registry.transaction(() => {
    const record = registry.getDelivery(ctx.deviceId, epoch);
    let recorded = false;
    for (const item of batch) {
      const thing = item.thing ?? "";
      const name = item.name ?? "";
      const key = `${thing}/${name}`;
      const seq = Number(item.seq ?? 0);
      if (!Number.isSafeInteger(seq) || !Number.isSafeInteger(epoch)) {
        items.push({ key, status: Status.BadRequest, message: "seq and epoch must be below 2^53" });
        continue;
      }
      const state = seq > 0 ? seqState(record, seq) : "new";
      if (state === "applied") {
        items.push({ key, status: Status.OK, message: "duplicate" });
        continue;
      }
      if (state === "unknown") {
        items.push({ key, status: Status.Conflict, message: `seq ${seq} is older than the delivery record` });
        continue;
      }
      const refusal = refusalFor(thing, key);
      if (refusal) {
        items.push(refusal);
        denied.push(refusal);
        continue;
      }
      const limited = refuseItem(ctx, permission, thing, name, key);
      if (limited) {
        items.push(limited);
        continue;
      }
      let change: C;
      try {
        change = decode(item, thing, name, now);
      } catch (err) {
        items.push({ key, status: Status.BadRequest, message: err instanceof Error ? err.message : "bad item" });
        continue;
      }
      store?.(change);
      changes.push(change);
      items.push({ key, status: Status.OK, message: "" });
      if (seq > 0) {
        markApplied(record, seq);
        recorded = true;
      }
    }
    if (recorded) registry.setDelivery(ctx.deviceId, epoch, record);
  });
  for (const change of changes) hub.publish(change);
  auditDenied(ctx, action, denied);
  return items;
}

/**
 * The acknowledgement of a batch: when every item was accepted, 200 without per-item statuses (a
 * 500-value batch then costs a few bytes to acknowledge instead of ~10 KiB); else every item's.
 */
export function batchAck(items: ItemStatus[]): Response {
  const allAccepted = items.every((item) => item.status === Status.OK);
  return { status: Status.OK, items: allAccepted ? [] : items };
}
