import { asyncRegistryOf } from "./async-sqlite.js";
import type { AsyncRegistry } from "./async-types.js";
import type { Registry } from "./types.js";

/** Called once per work: with no error after the group committed, else with why it was not applied. */
export type Settle = (err: unknown) => void;

interface Pending {
  work: () => void;
  settle: Settle;
}

/**
 * Applies the device batches that arrive in one turn of the event loop in one registry transaction:
 * one commit (one fsync of the write-ahead log, about 4 ms on this kind of disk) for all of them
 * instead of one per batch. Each work runs in its own nested transaction, in the order added. The
 * group waits for the registry's queue once per flush (registry/async-sqlite.ts), so no other
 * registry transaction interleaves with it; the works themselves are synchronous and run in one
 * stretch between BEGIN and COMMIT.
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
  add(work: () => void, settle: Settle): void {
    this.#queue.push({ work, settle });
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => void this.#flush());
  }

  async #flush(): Promise<void> {
    this.#scheduled = false;
    const queue = this.#queue;
    this.#queue = [];
    let outcomes: Promise<unknown>[] = [];
    let commitError: unknown;
    try {
      await this.registry.transaction((tx) => {
        outcomes = queue.map((pending) =>
          tx.transaction(pending.work).then(
            () => undefined,
            (err: unknown) => err ?? new Error("batch failed"),
          ),
        );
      });
    } catch (err) {
      commitError = err ?? new Error("commit failed");
    }
    const errors = await Promise.all(outcomes);
    queue.forEach((pending, i) => {
      try {
        pending.settle(commitError ?? errors[i]);
      } catch (err) {
        this.onSettleError(err);
      }
    });
  }
}

const groups = new WeakMap<Registry, CommitGroup>();

/** The commit group of `registry` (one per registry, shared by every session). */
export function commitGroupOf(registry: Registry, onSettleError?: (err: unknown) => void): CommitGroup {
  let group = groups.get(registry);
  if (!group) groups.set(registry, (group = new CommitGroup(asyncRegistryOf(registry), onSettleError)));
  return group;
}

/**
 * Runs `work` in this turn's commit group of `registry` and resolves after the commit that holds
 * its writes, so they are ordered after every device batch that arrived before (a value a device
 * confirmed for an operator's write does not get overwritten by an older report still queued).
 */
export function commitInGroup(registry: Registry, work: () => void): Promise<void> {
  return new Promise((resolve, reject) =>
    commitGroupOf(registry).add(work, (err) => (err === undefined ? resolve() : reject(err))),
  );
}
