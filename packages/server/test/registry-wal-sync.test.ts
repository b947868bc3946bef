import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AsyncSqliteRegistry } from "../src/registry/async-sqlite.js";
import { CommitGroup } from "../src/registry/commit-group.js";
import { SqliteRegistry } from "../src/registry/sqlite.js";
import { pumpValue } from "./registry-values.js";
import { type Fsync, WalSync } from "../src/registry/wal-sync.js";

const tick = () => new Promise((resolve) => setImmediate(resolve));
const value = pumpValue;

/** An fsync that completes only when told to; counts the calls. */
function heldFsync(): { fsync: Fsync; calls: () => number; finish: (err?: Error) => void } {
  const waiting: ((err: NodeJS.ErrnoException | null) => void)[] = [];
  let calls = 0;
  return {
    fsync: (_fd, done) => {
      calls += 1;
      waiting.push(done);
    },
    calls: () => calls,
    finish: (err) => waiting.shift()?.(err ?? null),
  };
}

describe("WAL sync off the event loop", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "outpost-wal-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("registry wal - sync resolves after an fsync that started after the call; callers during one share the next", async () => {
    const held = heldFsync();
    const wal = new WalSync(join(dir, "registry.db"), held.fsync);
    // The file must exist to be opened for the sync.
    new SqliteRegistry(join(dir, "registry.db")).close();
    const done: string[] = [];
    const first = wal.sync().then(() => done.push("first"));
    const second = wal.sync().then(() => done.push("second"));
    const third = wal.sync().then(() => done.push("third"));
    await tick();
    expect(held.calls()).toBe(1);
    held.finish();
    await tick();
    // The first fsync may have started before the second and third callers' commits.
    expect(done).toEqual(["first"]);
    expect(held.calls()).toBe(2);
    held.finish();
    await Promise.all([first, second, third]);
    expect(done).toEqual(["first", "second", "third"]);
    expect(held.calls()).toBe(2);
    wal.close();
  });

  it("registry wal - a failed fsync rejects its callers and the next sync tries again", async () => {
    const held = heldFsync();
    new SqliteRegistry(join(dir, "r.db")).close();
    const wal = new WalSync(join(dir, "r.db"), held.fsync);
    const failed = wal.sync();
    await tick();
    held.finish(Object.assign(new Error("EIO: i/o error, fsync"), { code: "EIO" }));
    await expect(failed).rejects.toThrow("EIO");
    const again = wal.sync();
    await tick();
    held.finish();
    await expect(again).resolves.toBeUndefined();
    expect(held.calls()).toBe(2);
    wal.close();
  });

  describe("on a registry file", () => {
    let sync: SqliteRegistry;
    let reg: AsyncSqliteRegistry;
    let held: ReturnType<typeof heldFsync>;
    beforeEach(async () => {
      sync = new SqliteRegistry(join(dir, "registry.db"));
      held = heldFsync();
      // The registry's own log sync, with the fsync held by the test.
      Object.assign(sync.control, { wal: new WalSync(join(dir, "registry.db-wal"), held.fsync) });
      reg = new AsyncSqliteRegistry(sync);
      await reg.createDevice("dev-1");
      await reg.assignThing("pump", "dev-1");
    });
    afterEach(async () => {
      for (let i = 0; i < 5; i++) held.finish();
      await reg.close();
    });

    it("registry wal - a transaction is done, and a commit group settles its work, only after the log's fsync", async () => {
      const group = new CommitGroup(reg);
      const settled: unknown[] = [];
      group.add(
        (tx) => tx.setProperties([value("a", 1)]),
        (err) => settled.push(err ?? "ok"),
      );
      for (let i = 0; i < 5 && held.calls() === 0; i++) await tick();
      expect(held.calls()).toBe(1);
      // Committed (readable) but not yet synced: not acknowledged.
      expect((await reg.getProperties("pump")).map((p) => p.value)).toEqual([1]);
      expect(settled).toEqual([]);
      held.finish();
      for (let i = 0; i < 5 && settled.length === 0; i++) await tick();
      expect(settled).toEqual(["ok"]);
    });

    it("registry wal - writes outside such a transaction still sync at commit (synchronous = FULL)", async () => {
      let inside = "";
      const tx = reg.transaction(async (t) => {
        await t.setProperty(value("a", 1));
        // Its own commit leaves the sync to the thread pool.
        inside = sync.storageSettings().synchronous;
      });
      for (let i = 0; i < 5 && held.calls() === 0; i++) await tick();
      expect(inside).toBe("normal");
      expect(sync.storageSettings().synchronous).toBe("full");
      held.finish();
      await tx;
      expect(sync.storageSettings()).toEqual({ journalMode: "wal", synchronous: "full" });
    });

    it("registry wal - a failed fsync fails the transaction and every work of its commit group", async () => {
      const group = new CommitGroup(reg);
      const settled: unknown[] = [];
      for (const name of ["a", "b"]) {
        group.add(
          (tx) => tx.setProperties([value(name, 1)]),
          (err) => settled.push(err),
        );
      }
      for (let i = 0; i < 5 && held.calls() === 0; i++) await tick();
      held.finish(new Error("EIO: i/o error, fsync"));
      for (let i = 0; i < 5 && settled.length < 2; i++) await tick();
      expect(settled).toHaveLength(2);
      for (const err of settled) expect(String(err)).toMatch(/EIO/);
    });
  });
});
