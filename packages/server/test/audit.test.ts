import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isOutpostError } from "@outpost/protocol";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FileAuditLog } from "../src/audit/audit-log.js";
import { canonicalJson, GENESIS_HASH, hashRecord } from "../src/audit/chain.js";
import { MemoryAuditLog } from "../src/audit/memory-audit-log.js";
import type { AuditEvent } from "../src/audit/types.js";
import { verifyAuditLog } from "../src/audit/verify.js";

const ev = (i: number): AuditEvent => ({
  type: i % 2 ? "login.success" : "login.failure",
  actor: `device:dev-${i}`,
  outcome: i % 2 ? "success" : "failure",
  source: "127.0.0.1",
  details: { attempt: i, nested: { b: 2, a: 1 } },
});

describe("audit", () => {
  let dir: string;
  let path: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "outpost-audit-"));
    path = join(dir, "audit.log");
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  async function writeLog(n: number): Promise<string[]> {
    const log = new FileAuditLog(path);
    for (let i = 1; i <= n; i++) log.append(ev(i));
    await log.close();
    return readFileSync(path, "utf8").trimEnd().split("\n");
  }

  it("audit - records are chained and the file verifies", async () => {
    const log = new FileAuditLog(path);
    const a = log.append(ev(1));
    const b = log.append({ ...ev(2), code: "OUTPOST_UNAUTHORIZED", target: "thing:pump" });
    expect(a.seq).toBe(1);
    expect(a.prev).toBe(GENESIS_HASH);
    expect(b.seq).toBe(2);
    expect(b.prev).toBe(a.hash);
    expect(a.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(hashRecord(b)).toBe(b.hash);
    await log.close();
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const lines = readFileSync(path, "utf8").trimEnd().split("\n");
    expect(JSON.parse(lines[1]!)).toEqual(b);
    expect(verifyAuditLog(path)).toMatchObject({ ok: true, records: 2 });
  });

  it("audit - editing one line is detected", async () => {
    const lines = await writeLog(5);
    lines[2] = lines[2]!.replace("dev-3", "dev-X");
    writeFileSync(path, `${lines.join("\n")}\n`);
    expect(verifyAuditLog(path)).toMatchObject({ ok: false, brokenAtSeq: 3 });
  });

  it("audit - editing a line and recomputing its hash breaks the next link", async () => {
    const lines = await writeLog(5);
    const rec = JSON.parse(lines[2]!);
    rec.actor = "device:someone-else";
    rec.hash = hashRecord(rec);
    lines[2] = JSON.stringify(rec);
    writeFileSync(path, `${lines.join("\n")}\n`);
    expect(verifyAuditLog(path)).toMatchObject({ ok: false, brokenAtSeq: 4, reason: expect.stringContaining("prev") });
  });

  it("audit - deleting a line is detected", async () => {
    const lines = await writeLog(5);
    lines.splice(1, 1);
    writeFileSync(path, `${lines.join("\n")}\n`);
    expect(verifyAuditLog(path)).toMatchObject({ ok: false, brokenAtSeq: 2 });
  });

  it("audit - deleting the first line is detected", async () => {
    const lines = await writeLog(3);
    writeFileSync(path, `${lines.slice(1).join("\n")}\n`);
    expect(verifyAuditLog(path)).toMatchObject({ ok: false, brokenAtSeq: 1 });
  });

  it("audit - reordering two lines is detected", async () => {
    const lines = await writeLog(4);
    [lines[1], lines[2]] = [lines[2]!, lines[1]!];
    writeFileSync(path, `${lines.join("\n")}\n`);
    expect(verifyAuditLog(path)).toMatchObject({ ok: false, brokenAtSeq: 2 });
  });

  it("audit - reopening continues the chain", async () => {
    await writeLog(3);
    const log = new FileAuditLog(path);
    expect(log.lastSeq).toBe(3);
    const r = log.append(ev(4));
    expect(r.seq).toBe(4);
    await log.close();
    expect(verifyAuditLog(path)).toMatchObject({ ok: true, records: 4 });
  });

  it("audit - appends by a second writer are picked up before the next append", async () => {
    const server = new FileAuditLog(path);
    server.append(ev(1));
    const cli = new FileAuditLog(path);
    cli.append(ev(2));
    await cli.close();
    expect(server.append(ev(3)).seq).toBe(3);
    await server.close();
    expect(verifyAuditLog(path)).toMatchObject({ ok: true, records: 3 });
  });

  it("audit - a torn last line refuses to open and fails verification", async () => {
    await writeLog(2);
    appendFileSync(path, '{"seq":3,"ti');
    expect(() => new FileAuditLog(path)).toThrow(/incomplete/);
    expect(verifyAuditLog(path)).toMatchObject({ ok: false, brokenAtSeq: 3 });
  });

  it("audit - non-log input fails verification without throwing", () => {
    writeFileSync(path, "hello\n");
    expect(verifyAuditLog(path)).toMatchObject({ ok: false, brokenAtSeq: 1, reason: "line is not valid JSON" });
    writeFileSync(path, "[1]\n");
    expect(verifyAuditLog(path)).toMatchObject({ ok: false, brokenAtSeq: 1 });
    expect(verifyAuditLog(join(dir, "missing"))).toMatchObject({ ok: false, brokenAtSeq: 0 });
    writeFileSync(path, "");
    expect(verifyAuditLog(path)).toMatchObject({ ok: true, records: 0 });
  });

  it("audit - long logs verify across read chunks", async () => {
    const log = new FileAuditLog(path);
    for (let i = 1; i <= 400; i++) log.append({ ...ev(i), details: { pad: "x".repeat(400) } });
    await log.close();
    expect(verifyAuditLog(path)).toMatchObject({ ok: true, records: 400 });
    const reopened = new FileAuditLog(path);
    expect(reopened.lastSeq).toBe(400);
    await reopened.close();
  });

  it("audit - odd details never make an append throw", () => {
    const mem = new MemoryAuditLog();
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const r1 = mem.append({ ...ev(1), details: { big: 10n, fn: () => 1 } });
    expect(r1.details).toEqual({ big: "10" });
    const r2 = mem.append({ ...ev(2), details: cyclic });
    expect(r2.details).toHaveProperty("unserializable");
    expect(r2.prev).toBe(r1.hash);
    expect(mem.ofType("login.failure")).toEqual([r2]);
  });

  it("audit - appending after close is a typed error", async () => {
    const log = new FileAuditLog(path);
    await log.close();
    let caught: unknown;
    try {
      log.append(ev(1));
    } catch (e) {
      caught = e;
    }
    expect(isOutpostError(caught, "OUTPOST_UNAVAILABLE")).toBe(true);
  });

  it("audit - canonical JSON sorts keys at every level", () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { z: 1, y: 2 }], c: null } })).toBe(
      '{"a":{"c":null,"d":[1,{"y":2,"z":1}]},"b":1}',
    );
  });
});
