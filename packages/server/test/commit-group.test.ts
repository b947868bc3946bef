import { describe, expect, it } from "vitest";
import { CommitGroup } from "../src/registry/commit-group.js";

/** A registry stand-in: an asynchronous transaction with nested ones, and a log of what committed. */
function fakeRegistry(options: { failCommit?: boolean } = {}) {
  const log: string[] = [];
  let pending: string[][] = [];
  type Tx = { transaction(w: (tx: Tx) => unknown): Promise<unknown> };
  const tx: Tx = {
    async transaction(w) {
      pending.push([]);
      try {
        const result = await w(tx);
        const done = pending.pop()!;
        pending[pending.length - 1]!.push(...done);
        return result;
      } catch (err) {
        pending.pop();
        throw err;
      }
    },
  };
  return {
    log,
    outer: 0,
    write(entry: string) {
      pending[pending.length - 1]!.push(entry);
    },
    async transaction<T>(work: (tx: Tx) => Promise<T> | T): Promise<T> {
      this.outer += 1;
      pending = [[]];
      try {
        const result = await work(tx);
        if (options.failCommit) throw new Error("SQLITE_FULL: database or disk is full");
        log.push(...pending.pop()!);
        return result;
      } finally {
        pending = [];
      }
    },
  };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe("commit group", () => {
  it("commit group - works of one turn share one transaction and are settled after its commit, in order", async () => {
    const registry = fakeRegistry();
    const group = new CommitGroup(registry);
    const settled: [string, unknown, string[]][] = [];
    for (const name of ["a", "b", "c"]) {
      group.add(
        () => registry.write(name),
        (err) => settled.push([name, err, [...registry.log]]),
      );
    }
    expect(registry.log).toEqual([]);
    await turn();
    expect(registry.outer).toBe(1);
    expect(settled).toEqual([
      ["a", undefined, ["a", "b", "c"]],
      ["b", undefined, ["a", "b", "c"]],
      ["c", undefined, ["a", "b", "c"]],
    ]);
    group.add(
      () => registry.write("d"),
      (err) => settled.push(["d", err, [...registry.log]]),
    );
    await turn();
    expect(registry.outer).toBe(2);
    expect(settled.at(-1)).toEqual(["d", undefined, ["a", "b", "c", "d"]]);
  });

  it("commit group - a work that throws is rolled back and settled with its error alone; the others commit", async () => {
    const registry = fakeRegistry();
    const group = new CommitGroup(registry);
    const settled: [string, unknown][] = [];
    const boom = new Error("bad batch");
    group.add(
      () => registry.write("a"),
      (err) => settled.push(["a", err]),
    );
    group.add(
      () => {
        registry.write("b");
        throw boom;
      },
      (err) => settled.push(["b", err]),
    );
    group.add(
      () => registry.write("c"),
      (err) => settled.push(["c", err]),
    );
    await turn();
    expect(registry.log).toEqual(["a", "c"]);
    expect(settled).toEqual([
      ["a", undefined],
      ["b", boom],
      ["c", undefined],
    ]);
  });

  it("commit group - when the commit fails every work is settled with its error and none is acknowledged", async () => {
    const registry = fakeRegistry({ failCommit: true });
    const errors: unknown[] = [];
    const group = new CommitGroup(registry, (err) => errors.push(err));
    const settled: unknown[] = [];
    for (const name of ["a", "b"]) {
      group.add(
        () => registry.write(name),
        (err) => {
          settled.push(err);
          throw new Error("reply failed");
        },
      );
    }
    await turn();
    expect(registry.log).toEqual([]);
    expect(settled.map((e) => (e as Error).message)).toEqual([
      "SQLITE_FULL: database or disk is full",
      "SQLITE_FULL: database or disk is full",
    ]);
    // A throwing settle does not keep the others from being settled.
    expect(errors.map((e) => (e as Error).message)).toEqual(["reply failed", "reply failed"]);
  });
});
