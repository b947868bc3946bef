import { type Envelope, type ItemStatus, type Response, Status } from "@outpost/protocol";
import { markApplied, seqState } from "../../registry/delivery.js";
import type { RegistryTransaction } from "../../registry/async-types.js";
import type { Permission } from "../../registry/types.js";
import type { ThingChange } from "../../things/changes.js";
import type { HandlerContext } from "../context.js";
import { commitGroupOf } from "../../registry/commit-group.js";
import { admitBatch, readBounds, refuseItem } from "./item-limits.js";
import { auditDenied, denyItems } from "./permit.js";

/** What every item of a device batch carries: its Thing, its name and its delivery seq. */
export interface SequencedItem {
  thing?: string | null;
  name?: string | null;
  seq?: number | null;
}

/** Turns one permitted item into the change it makes; throws for bad data (that item is answered 400). */
export type DecodeItem<T, C extends ThingChange> = (item: T, thing: string, name: string, now: number) => C;

/** One device batch to apply. */
export interface SequencedBatch<T extends SequencedItem, C extends ThingChange> {
  /** The queue epoch of the items' seqs (0 without "delivery-epoch"). */
  epoch: number;
  items: readonly T[];
  permission: Permission;
  /** The action denials are audited under. */
  action: string;
  decode: DecodeItem<T, C>;
  /** Persists the last accepted change of each (Thing, name), inside the transaction. */
  store?: (tx: RegistryTransaction, lastChanges: C[]) => Promise<void>;
}

/** What a batch decided once for one (Thing, name): the statuses its items share and its last change. */
interface KeyEntry<C> {
  thing: string;
  member: string;
  key: string;
  ok: ItemStatus;
  duplicate: ItemStatus;
  /** The permission check's refusal (undefined: allowed); null until first asked. */
  refused: ItemStatus | undefined | null;
  /** The bounds' refusal; `undefined` once decided within bounds. Not set until first asked. */
  limited?: ItemStatus | undefined;
  decided: boolean;
  last?: C;
}

/**
 * Applies a device batch (property values or events) of one queue epoch in order, together with
 * the epoch's delivery record, in the registry transaction of this turn's commit group (commit-group.ts), and
 * calls `done` after the commit with one ItemStatus per item (or, when the batch could not be
 * stored, with the error and nothing applied or acknowledged):
 * - an item whose seq the record shows applied (the ack was lost) is acknowledged as a duplicate
 *   and not applied again; one the record can no longer tell about is refused with 409 (the
 *   device reports it failed); seq 0 is not deduplicated;
 * - only applied items enter the record: a refused item never marks its seq delivered;
 * - `permission` (which may be denied for one property or event) and the bound check, and the
 *   item bounds ({@link refuseItem}), are decided once per (Thing, name) (a batch carries few),
 *   inside the transaction and all with one wait for the registry; items of one (Thing, name)
 *   share their status objects;
 * - an item `decode` throws for is answered 400 and the others still apply;
 * - the device's bounds apply before anything is stored: {@link admitBatch} at once (it throws
 *   429 for the whole batch), {@link refuseItem} per item;
 * - `store` gets, once, inside the transaction, the last accepted change of each (Thing, name) in
 *   the batch (a storage failure aborts the whole batch, which is then not acknowledged and is
 *   sent again).
 * Subscribers hear of every accepted change, in order, only after the commit; denials are audited
 * once per batch.
 */
export function applySequencedBatch<T extends SequencedItem, C extends ThingChange>(
  ctx: HandlerContext,
  spec: SequencedBatch<T, C>,
  done: (err: unknown, items: ItemStatus[]) => void,
): void {
  const { epoch, items: batch, permission, action, decode, store } = spec;
  admitBatch(ctx, permission, batch.length);
  const { registry, hub } = ctx.deps;
  const items: ItemStatus[] = new Array<ItemStatus>(batch.length);
  const denied: ItemStatus[] = [];
  const changes: C[] = [];
  const now = Date.now();
  const entries = new Map<string, Map<string, KeyEntry<C>>>();
  // The items of a batch mostly repeat the (Thing, name) before them: that one is kept at hand.
  let lastEntry: KeyEntry<C> | undefined;
  const entryFor = (thing: string, name: string): KeyEntry<C> => {
    if (lastEntry !== undefined && lastEntry.thing === thing && lastEntry.member === name) return lastEntry;
    let names = entries.get(thing);
    if (!names) entries.set(thing, (names = new Map()));
    let entry = names.get(name);
    if (!entry) {
      const key = `${thing}/${name}`;
      entry = {
        thing,
        member: name,
        key,
        ok: { key, status: Status.OK, message: "" },
        duplicate: { key, status: Status.OK, message: "duplicate" },
        decided: false,
        refused: null,
      };
      names.set(name, entry);
    }
    return (lastEntry = entry);
  };
  const epochSafe = Number.isSafeInteger(epoch);
  const work = async (tx: RegistryTransaction): Promise<void> => {
    // Every (Thing, name) of the batch is decided before the items are walked, so that the batch
    // waits for the registry a fixed number of times whatever it holds (a decision for a name
    // whose items all turn out duplicates is not used).
    const asks: KeyEntry<C>[] = [];
    if (epochSafe) {
      for (const item of batch) {
        const entry = entryFor(item.thing ?? "", item.name ?? "");
        if (entry.refused === null) {
          entry.refused = undefined;
          asks.push(entry);
        }
      }
    }
    const [record, refusals, bounds] = await Promise.all([
      tx.getDelivery(ctx.deviceId, epoch),
      denyItems(tx, ctx, permission, asks),
      readBounds(tx, permission, asks),
    ]);
    asks.forEach((entry, i) => (entry.refused = refusals[i]));
    let recorded = false;
    for (let i = 0; i < batch.length; i++) {
      const item = batch[i]!;
      const thing = item.thing ?? "";
      const name = item.name ?? "";
      const entry = entryFor(thing, name);
      const key = entry.key;
      const seq = Number(item.seq ?? 0);
      if (!Number.isSafeInteger(seq) || !epochSafe) {
        items[i] = { key, status: Status.BadRequest, message: "seq and epoch must be below 2^53" };
        continue;
      }
      const state = seq > 0 ? seqState(record, seq) : "new";
      if (state === "applied") {
        items[i] = entry.duplicate;
        continue;
      }
      if (state === "unknown") {
        items[i] = { key, status: Status.Conflict, message: `seq ${seq} is older than the delivery record` };
        continue;
      }
      const refusal = entry.refused;
      if (refusal) {
        const status = { ...refusal, key };
        items[i] = status;
        denied.push(status);
        continue;
      }
      if (!entry.decided) {
        entry.limited = refuseItem(ctx, permission, thing, name, key, bounds);
        entry.decided = true;
      }
      if (entry.limited) {
        items[i] = entry.limited;
        continue;
      }
      let change: C;
      try {
        change = decode(item, thing, name, now);
      } catch (err) {
        items[i] = { key, status: Status.BadRequest, message: err instanceof Error ? err.message : "bad item" };
        continue;
      }
      entry.last = change;
      changes.push(change);
      items[i] = entry.ok;
      if (seq > 0) {
        markApplied(record, seq);
        recorded = true;
      }
    }
    if (store && changes.length > 0) {
      const lastChanges: C[] = [];
      for (const names of entries.values())
        for (const entry of names.values()) if (entry.last) lastChanges.push(entry.last);
      await store(tx, lastChanges);
    }
    if (recorded) await tx.setDelivery(ctx.deviceId, epoch, record);
  };
  const group = commitGroupOf(registry, (err) => ctx.deps.logger.debug({ err }, "answering a device batch failed"));
  group.add(work, (err) => {
    if (err !== undefined) {
      done(err, []);
      return;
    }
    for (const change of changes) hub.publish(change);
    auditDenied(ctx, action, denied);
    done(undefined, items);
  });
}

/**
 * Answers a batch that could not be applied (storage failed): the device keeps it and sends it
 * again. Reported like any failure of the connection (the first one at error level).
 */
export function replyNotApplied(ctx: HandlerContext, request: Envelope, err: unknown): void {
  ctx.reportFault(err, `handling ${request.body ?? "a batch"}`);
  try {
    ctx.replyError(request, err);
  } catch {
    // the connection is gone; the device sends the batch again when it is back
  }
}

/**
 * The acknowledgement of a batch: when every item was accepted, 200 without per-item statuses (a
 * 500-value batch then costs a few bytes to acknowledge instead of ~10 KiB); else every item's.
 */
export function batchAck(items: ItemStatus[]): Response {
  const allAccepted = items.every((item) => item.status === Status.OK);
  return { status: Status.OK, items: allAccepted ? [] : items };
}
