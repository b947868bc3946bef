import type { AsyncRegistry, RegistryTransaction } from "./async-types.js";

/** Called once per work: with no error after the group committed, else with why it was not applied. */
export type Settle = (err: unknown) => void;

/**
 * One unit of work in the group's transaction. It may await, but only calls on `tx`: awaiting
 * anything else would hold the registry's queue (and, on SQLite, its write lock) across I/O.
 */
export type GroupWork = (tx: RegistryTransaction) => Promise<void> | void;

interface Pending {
  work: GroupWork;
  settle: Settle;
}

/**
 * Applies the device batches that arrive in one turn of the event loop in one registry transaction:
 * one commit (one fsync of the write-ahead log, about 4 ms on this kind of disk) for all of them
 * instead of one per batch. Each work runs in its own nested transaction, in the order added. The
 * group waits for the registry's queue once per flush (registry/async-sqlite.ts), so no other
 * registry transaction or call interleaves with it; each work is awaited before the next starts.
 *
 * Failure and ordering: a work that throws is rolled back alone and settled with its error; the
 * others still apply. When the commit fails, every work is settled with that error. A work is
 * settled without error only after the commit that holds its writes, so nothing is acknowledged
 * before it is durable; a work settled with an error either left nothing behind or (when the
 * storage engine had already ended the transaction) committed on its own together with its
 * delivery record, so the device's resend is recognised as a duplicate. `settle` runs after the
 * commit, in the order the works were added; an exception from it is passed to `onSettleError`.
 */
export class CommitGroup {
  #queue: Pending[] = [];
  #scheduled = false;

  constructor(
    private readonly registry: Pick<AsyncRegistry, "transaction">,
    private readonly onSettleError: (err: unknown) => void = () => {},
  ) {}

  /** Queues `work` for this turn's transaction. */
  add(work: GroupWork, settle: Settle): void {
    this.#queue.push({ work, settle });
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => void this.#flush());
  }

  async #flush(): Promise<void> {
    this.#scheduled = false;
    const queue = this.#queue;
    this.#queue = [];
    const errors: unknown[] = [];
    let commitError: unknown;
    try {
      await this.registry.transaction(async (tx) => {
        for (const pending of queue) {
          try {
            await tx.transaction(pending.work);
            errors.push(undefined);
          } catch (err) {
            errors.push(err ?? new Error("batch failed"));
          }
        }
      });
    } catch (err) {
      commitError = err ?? new Error("commit failed");
    }
    queue.forEach((pending, i) => {
      try {
        pending.settle(commitError ?? errors[i]);
      } catch (err) {
        this.onSettleError(err);
      }
    });
  }
}

type GroupRegistry = Pick<AsyncRegistry, "transaction">;

const groups = new WeakMap<GroupRegistry, CommitGroup>();

/**
 * The commit group of `registry` (one per registry, shared by every session; pass the one
 * asynchronous view of a registry, `asyncRegistryOf`, so that all its users share one group).
 */
export function commitGroupOf(registry: GroupRegistry, onSettleError?: (err: unknown) => void): CommitGroup {
  let group = groups.get(registry);
  if (!group) groups.set(registry, (group = new CommitGroup(registry, onSettleError)));
  return group;
}

/**
 * Runs `work` in this turn's commit group of `registry` and resolves after the commit that holds
 * its writes, so they are ordered after every device batch that arrived before (a value a device
 * confirmed for an operator's write does not get overwritten by an older report still queued).
 */
export function commitInGroup(registry: GroupRegistry, work: GroupWork): Promise<void> {
  return new Promise((resolve, reject) =>
    commitGroupOf(registry).add(work, (err) => (err === undefined ? resolve() : reject(err))),
  );
}
