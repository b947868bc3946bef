import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AsyncSqliteRegistry } from "../src/registry/async-sqlite.js";
import { SqliteRegistry } from "../src/registry/sqlite.js";
import { pumpValue } from "./registry-values.js";

const tick = () => new Promise((resolve) => setImmediate(resolve));
const value = pumpValue;

describe("asynchronous registry", () => {
  let reg: AsyncSqliteRegistry;
  beforeEach(async () => {
    reg = new AsyncSqliteRegistry(new SqliteRegistry(":memory:"));
    await reg.createDevice("dev-1");
    await reg.assignThing("pump", "dev-1");
  });
  afterEach(() => reg.close());

  it("registry async - a transaction that spans awaits commits its values with their delivery record", async () => {
    await reg.transaction(async (tx) => {
      await tx.setProperties([value("a", 1), value("b", 2)]);
      await tick();
      await tx.setDelivery("dev-1", 0, { runs: [], base: 2 });
    });
    expect((await reg.getProperties("pump")).map((p) => p.value)).toEqual([1, 2]);
    expect(await reg.getDelivery("dev-1", 0)).toEqual({ runs: [], base: 2 });
  });

  it("registry async - a transaction whose work rejects after an await keeps none of its writes", async () => {
    const boom = new Error("crash before the record");
    await expect(
      reg.transaction(async (tx) => {
        await tx.setProperties([value("a", 1)]);
        await tick();
        await tx.setDelivery("dev-1", 0, { runs: [], base: 1 });
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(await reg.getProperties("pump")).toEqual([]);
    expect(await reg.getDelivery("dev-1", 0)).toEqual({ runs: [], base: 0 });
  });

  it("registry async - calls made while a transaction is open wait for its end, in order, and see only committed writes", async () => {
    const seen: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const tx = reg.transaction(async (t) => {
      await t.setProperty(value("a", 1));
      await gate;
      await t.setProperty(value("a", 2));
    });
    const read = reg.getProperties("pump").then((ps) => seen.push(`read ${ps.map((p) => p.value).join()}`));
    const write = reg.setProperty(value("a", 3)).then(() => seen.push("write 3"));
    await tick();
    expect(seen).toEqual([]);
    release();
    await Promise.all([tx, read, write]);
    expect(seen).toEqual(["read 2", "write 3"]);
    expect((await reg.getProperties("pump"))[0]!.value).toBe(3);
  });

  it("registry async - a nested transaction that throws undoes only its own writes", async () => {
    await reg.transaction(async (tx) => {
      await tx.setProperty(value("a", 1));
      await expect(
        tx.transaction(async (inner) => {
          await inner.setProperty(value("b", 2));
          throw new Error("bad batch");
        }),
      ).rejects.toThrow("bad batch");
      await tx.setProperty(value("c", 3));
    });
    expect((await reg.getProperties("pump")).map((p) => p.name)).toEqual(["a", "c"]);
  });

  it("registry async - a permission granted in a rolled-back transaction is not kept in the decision cache", async () => {
    await reg.createOperator("alice", false);
    const alice = { kind: "operator" as const, id: "alice" };
    expect(await reg.can(alice, "pump", "property.read")).toBe(false);
    await expect(
      reg.transaction(async (tx) => {
        await tx.grant(alice, "pump", "property.read");
        expect(await tx.can(alice, "pump", "property.read")).toBe(true);
        throw new Error("undo");
      }),
    ).rejects.toThrow("undo");
    expect(await reg.can(alice, "pump", "property.read")).toBe(false);
  });

  it("registry async - the handle of an ended transaction is refused", async () => {
    let kept: Parameters<Parameters<typeof reg.transaction>[0]>[0] | undefined;
    await reg.transaction((tx) => {
      kept = tx;
    });
    await expect(kept!.setProperty(value("a", 1))).rejects.toThrow("has ended");
    expect(await reg.countProperties("pump")).toBe(0);
  });

  it("registry async - a store write in a transaction that rejects is undone, and a store call made meanwhile waits for its end", async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const boom = new Error("fails after the group");
    const tx = reg.transaction(async (t) => {
      await t.access.createGroup("Field", "line operators");
      await gate;
      throw boom;
    });
    const seen = reg.access.getGroup("Field");
    await tick();
    release();
    await expect(tx).rejects.toBe(boom);
    expect(await seen).toBeUndefined();
    expect(await reg.access.getGroup("Field")).toBeUndefined();
    expect((await reg.access.listGroups()).map((g) => g.name)).not.toContain("Field");
  });

  it("registry async - every store method of the contract answers with a Promise, also on an ended transaction's handle", async () => {
    const kinds = [
      reg.access.listGroups(),
      reg.templates.list(),
      reg.secrets.storedKeyId(),
      reg.credentials.listActive(),
      reg.modelWrites.addUser("alice"),
    ];
    for (const k of kinds) expect(k).toBeInstanceOf(Promise);
    await Promise.all(kinds);
    let kept: Parameters<Parameters<typeof reg.transaction>[0]>[0] | undefined;
    await reg.transaction((tx) => {
      kept = tx;
    });
    await expect(kept!.templates.list()).rejects.toThrow("has ended");
    await expect(kept!.access.createGroup("Late")).rejects.toThrow("has ended");
    expect(await reg.access.getGroup("Late")).toBeUndefined();
  });
});
