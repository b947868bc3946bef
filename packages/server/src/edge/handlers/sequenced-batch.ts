import { type ItemStatus, type Response, Status } from "@outpost/protocol";
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
 * Applies a device batch (property values or events) in order, in one registry transaction
 * together with the delivery watermark, and returns one ItemStatus per item:
 * - items at or below the device's delivered seq were applied before (the ack was lost): they are
 *   acknowledged as duplicates and not applied again;
 * - `permission` and the bound check are decided once per Thing (a batch carries few Things);
 * - an item `decode` throws for is answered 400 and the others still apply;
 * - the device's bounds ({@link admitBatch}, {@link refuseItem}) apply before anything is stored;
 * - `store` persists each accepted change inside the transaction (a storage failure aborts the
 *   whole batch, which is then not acknowledged and will be re-sent).
 * Subscribers hear of the changes only after the commit; denials are audited once per batch.
 */
export function applySequencedBatch<T extends SequencedItem, C extends ThingChange>(
  ctx: HandlerContext,
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
    const delivered = registry.getDeliveredSeq(ctx.deviceId);
    let maxSeq = delivered;
    for (const item of batch) {
      const thing = item.thing ?? "";
      const name = item.name ?? "";
      const key = `${thing}/${name}`;
      const seq = Number(item.seq ?? 0);
      if (seq > 0 && seq <= delivered) {
        items.push({ key, status: Status.OK, message: "duplicate" });
        continue;
      }
      if (seq > maxSeq) maxSeq = seq;
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
    }
    if (maxSeq > delivered) registry.setDeliveredSeq(ctx.deviceId, maxSeq);
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
