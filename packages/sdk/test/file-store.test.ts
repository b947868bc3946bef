import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { EdgeClient } from "../src/client.js";
import { FileQueueStore, type FileQueueProblem, type FileQueueStoreOptions } from "../src/queue/file-store.js";
import type { QueueItem } from "../src/queue/types.js";
import { clientFor } from "./helpers/client.js";
import { FakeServer } from "./helpers/fake-server.js";

const dirs: string[] = [];
const stores: FileQueueStore[] = [];
let clients: EdgeClient[] = [];
afterEach(async () => {
  for (const c of clients) await c.close({ flush: false });
  clients = [];
  for (const s of stores.splice(0)) await s.close().catch(() => {});
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const all = { maxItems: 1e9, maxBytes: 2 ** 40 };

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "file-store-"));
  dirs.push(d);
  return d;
}

function store(dir: string, options: Partial<FileQueueStoreOptions> = {}): FileQueueStore {
  const s = new FileQueueStore({ dir, ...options });
  stores.push(s);
  return s;
}

function prop(seq: number, value = seq): QueueItem {
  return {
    kind: "property",
    seq,
    thing: "pump",
    name: "rpm",
    value: { intValue: value },
    timestampMs: 1000 + seq,
    quality: 0,
  };
}

const seqs = (items: QueueItem[]) => items.map((i) => i.seq);

describe("FileQueueStore", () => {
  it("file store - epoch, items and lastSeq survive a reopen; truncated items stay gone", async () => {
    const dir = tempDir();
    const a = store(dir);
    const state = await a.open();
    expect(state.lastSeq).toBe(0);
    await a.append([prop(1), prop(2)]);
    await a.append([prop(5)]);
    await a.truncate(2);
    await a.close();
    const b = store(dir);
    expect(await b.open()).toEqual({ epoch: state.epoch, lastSeq: 5 });
    expect(seqs(await b.read(0, all))).toEqual([5]);
    await b.truncate(5);
    await b.close();
    const c = store(dir);
    expect(await c.open()).toEqual({ epoch: state.epoch, lastSeq: 5 });
    expect(await c.read(0, all)).toEqual([]);
  });

  it("file store - round-trips every value kind exactly, bytes and special numbers included", async () => {
    const dir = tempDir();
    const items: QueueItem[] = [
      {
        kind: "property",
        seq: 1,
        thing: "t",
        name: "b",
        value: { bytesValue: new Uint8Array([0, 255, 7]) },
        timestampMs: 1,
        quality: 2,
      },
      { kind: "property", seq: 2, thing: "t", name: "n", value: { numberValue: -0 }, timestampMs: 2, quality: 1 },
      {
        kind: "property",
        seq: 3,
        thing: "t",
        name: "n",
        value: { numberValue: Number.NaN },
        timestampMs: 3,
        quality: 0,
      },
      {
        kind: "property",
        seq: 4,
        thing: "t",
        name: "j",
        value: { jsonValue: '{"a":[1]}' },
        timestampMs: 4,
        quality: 0,
      },
      {
        kind: "event",
        seq: 6,
        thing: "t",
        name: "e\u00e9\u{1f600}",
        data: { s: { stringValue: "x\n\u0000y" }, i: { intValue: 2 ** 53 - 1 }, f: { boolValue: false } },
        timestampMs: 6,
      },
    ];
    const a = store(dir);
    await a.open();
    await a.append(items);
    await a.close();
    const b = store(dir);
    await b.open();
    expect(await b.read(0, all)).toEqual(items);
  });

  it("file store - read honours maxItems and maxBytes but returns at least one item", async () => {
    const s = store(tempDir());
    await s.open();
    await s.append(Array.from({ length: 10 }, (_, i) => prop(i + 1)));
    expect(seqs(await s.read(0, { maxItems: 3, maxBytes: 1e9 }))).toEqual([1, 2, 3]);
    expect(seqs(await s.read(3, { maxItems: 3, maxBytes: 1e9 }))).toEqual([4, 5, 6]);
    expect(seqs(await s.read(0, { maxItems: 100, maxBytes: 1 }))).toEqual([1]);
    expect(seqs(await s.read(8, all))).toEqual([9, 10]);
  });

  it("file store - rolls over segments in order and deletes a segment once all of it is truncated", async () => {
    const dir = tempDir();
    const s = store(dir, { segmentBytes: 4096 });
    await s.open();
    for (let i = 1; i <= 300; i++) await s.append([prop(i)]);
    const segsBefore = readdirSync(dir).filter((n) => n.endsWith(".seg")).length;
    expect(segsBefore).toBeGreaterThan(3);
    expect(seqs(await s.read(0, all))).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    await s.truncate(200);
    const segsAfter = readdirSync(dir).filter((n) => n.endsWith(".seg")).length;
    expect(segsAfter).toBeLessThan(segsBefore);
    expect(seqs(await s.read(0, all))).toEqual(Array.from({ length: 100 }, (_, i) => i + 201));
  });

  it("file store - an append beyond maxBytes is refused with OUTPOST_QUEUE_OVERFLOW, reported, and nothing of it is kept", async () => {
    const problems: FileQueueProblem[] = [];
    const dir = tempDir();
    const s = store(dir, { maxBytes: 2000, onProblem: (p) => problems.push(p) });
    await s.open();
    let seq = 0;
    for (;;) {
      try {
        await s.append([prop(++seq)]);
      } catch (err) {
        expect((err as { code?: string }).code).toBe("OUTPOST_QUEUE_OVERFLOW");
        break;
      }
      expect(seq).toBeLessThan(1000);
    }
    expect(s.stats()).toMatchObject({ overflows: 1, overflowItems: 1 });
    expect(problems.map((p) => p.type)).toEqual(["overflow"]);
    expect(s.stats().bytes).toBeLessThanOrEqual(2000);
    await s.close();
    const again = store(dir, { maxBytes: 2000 });
    await again.open();
    expect(seqs(await again.read(0, all))).toEqual(Array.from({ length: seq - 1 }, (_, i) => i + 1));
  });

  it("file store - a torn last record is detected, dropped and cut off; later appends read back cleanly", async () => {
    const dir = tempDir();
    const a = store(dir);
    await a.open();
    await a.append([prop(1), prop(2)]);
    await a.close();
    const seg = join(
      dir,
      readdirSync(dir).find((n) => n.endsWith(".seg"))!,
    );
    const whole = readFileSync(seg);
    // A third record whose write stopped after 300 of its 1000 bytes: longer than the next record.
    const torn = Buffer.alloc(300, 0x41);
    torn.writeUInt32LE(1000, 0);
    appendFileSync(seg, torn);
    const problems: FileQueueProblem[] = [];
    const b = store(dir, { onProblem: (p) => problems.push(p) });
    expect((await b.open()).lastSeq).toBe(2);
    expect(problems).toEqual([
      { type: "torn-tail", segment: expect.any(String), offset: whole.length, droppedBytes: 300 },
    ]);
    await b.append([prop(3)]);
    await b.close();
    const later: FileQueueProblem[] = [];
    const c = store(dir, { onProblem: (p) => later.push(p) });
    await c.open();
    expect(seqs(await c.read(0, all))).toEqual([1, 2, 3]);
    expect(later).toEqual([]);
  });

  it("file store - a changed byte inside a record is caught by its checksum, never read as data", async () => {
    const dir = tempDir();
    const a = store(dir);
    await a.open();
    await a.append([prop(1, 111), prop(2, 222), prop(3, 333)]);
    await a.close();
    const seg = join(
      dir,
      readdirSync(dir).find((n) => n.endsWith(".seg"))!,
    );
    const buf = readFileSync(seg);
    const at = buf.indexOf("222");
    buf[at] = "9".charCodeAt(0);
    writeFileSync(seg, buf);
    const problems: FileQueueProblem[] = [];
    const b = store(dir, { onProblem: (p) => problems.push(p) });
    await b.open();
    const items = await b.read(0, all);
    expect(items.map((i) => (i.kind === "property" ? i.value.intValue : 0))).toEqual([111]);
    expect(problems.map((p) => p.type)).toEqual(["corrupt"]);
  });

  it("file store - queued items survive a client restart and reach the server once, in order", async () => {
    const dir = tempDir();
    const server = new FakeServer();
    const first = clientFor(server, { queue: { store: store(dir) } });
    clients.push(first);
    for (let i = 1; i <= 50; i++) first.thing("pump").set("rpm", i);
    first.thing("pump").emit("booted");
    await first.close({ flush: false });

    const second = clientFor(server, { queue: { store: store(dir) } });
    clients.push(second);
    second.thing("pump").set("rpm", 51);
    await second.connect();
    await second.flush();
    const values = server.updates.filter((u) => u.seq !== 0).map((u) => u.value?.intValue);
    expect(values).toEqual(Array.from({ length: 51 }, (_, i) => i + 1));
    expect(server.events.map((e) => e.seq)).toEqual([51]);
  });
});
