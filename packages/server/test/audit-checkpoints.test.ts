import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FileAuditLog } from "../src/audit/audit-log.js";
import { hashRecord } from "../src/audit/chain.js";
import {
  type AuditAnchor,
  type AuditSigningKey,
  checkpointMessage,
  loadOrCreateAuditKey,
  readAnchor,
} from "../src/audit/checkpoint.js";
import type { AuditEvent } from "../src/audit/types.js";
import { verifyAuditLog } from "../src/audit/verify.js";
import { sign } from "node:crypto";

const ev = (i: number): AuditEvent => ({
  type: "login.success",
  actor: `device:dev-${i}`,
  outcome: "success",
  source: "127.0.0.1",
  details: { attempt: i },
});

type Rec = Record<string, unknown> & { seq: number; hash: string; prev: string; details?: Record<string, unknown> };

describe("audit checkpoints", () => {
  let dir: string;
  let path: string;
  let anchorPath: string;
  let key: AuditSigningKey;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "outpost-audit-cp-"));
    path = join(dir, "audit.log");
    anchorPath = join(dir, "anchor.json");
    key = loadOrCreateAuditKey(join(dir, "keys", "signing.key"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  // 12 records with a checkpoint every 5: checkpoints at seq 6 (covers 1-5), 12 (covers 7-11)
  // and, on close, 15 (covers 13-14). The anchor then vouches for seq 14.
  async function writeLog(): Promise<{ lines: Rec[]; anchor: AuditAnchor }> {
    const log = new FileAuditLog(path, { checkpoints: { key, every: 5, anchorPath } });
    for (let i = 1; i <= 12; i++) log.append(ev(i));
    await log.close();
    return { lines: read(), anchor: readAnchor(anchorPath) };
  }

  function read(): Rec[] {
    return readFileSync(path, "utf8")
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l) as Rec);
  }

  function write(records: Rec[]): void {
    writeFileSync(path, records.map((r) => `${JSON.stringify(r)}\n`).join(""));
  }

  /** Recomputes prev and hash of every record from `from` on, as a forger without the key would. */
  function rechain(records: Rec[], from = 0): Rec[] {
    for (let i = from; i < records.length; i++) {
      const r = records[i]!;
      r.seq = i + 1;
      r.prev = i === 0 ? "0".repeat(64) : records[i - 1]!.hash;
      r.hash = hashRecord(r);
    }
    return records;
  }

  const verify = () => verifyAuditLog(path, { publicKey: key.publicKey, anchor: readAnchor(anchorPath) });

  it("audit checkpoints - an intact log verifies: every checkpoint signed, anchor reached", async () => {
    const { lines, anchor } = await writeLog();
    expect(lines.filter((r) => r.type === "audit.checkpoint").map((r) => r.seq)).toEqual([6, 12, 15]);
    expect(lines[5]?.details).toMatchObject({ seq: 5, hash: lines[4]?.hash, keyId: key.keyId });
    expect(anchor).toMatchObject({ seq: 14, hash: lines[13]?.hash, keyId: key.keyId });
    expect(verify()).toEqual({
      ok: true,
      records: 15,
      checkpoints: 3,
      signedThrough: 14,
      signaturesChecked: true,
      anchored: true,
    });
  });

  it("audit checkpoints - an edited record is reported at its own seq", async () => {
    const { lines } = await writeLog();
    lines[7]!.actor = "device:someone-else";
    write(lines);
    expect(verify()).toMatchObject({ ok: false, brokenAtSeq: 8, reason: "hash does not match the record" });
  });

  it("audit checkpoints - a record rewritten with every later hash recomputed fails at the next checkpoint", async () => {
    const { lines } = await writeLog();
    lines[7]!.actor = "device:someone-else";
    write(rechain(lines, 7));
    // The chain alone no longer shows it: that is the gap the signatures close.
    expect(verifyAuditLog(path)).toMatchObject({ ok: true, records: 15 });
    const r = verify();
    expect(r).toMatchObject({ ok: false, brokenAtSeq: 7 });
    expect(!r.ok && r.reason).toContain("checkpoint at seq 12");
  });

  it("audit checkpoints - a rewrite re-signed with another key fails the signature check", async () => {
    const { lines } = await writeLog();
    const forger = loadOrCreateAuditKey(join(dir, "forger.key"));
    lines[7]!.actor = "device:someone-else";
    rechain(lines, 7);
    for (let i = 7; i < lines.length; i++) {
      const r = lines[i]!;
      if (r.type === "audit.checkpoint") {
        const prev = lines[i - 1]!;
        r.details = {
          seq: prev.seq,
          hash: prev.hash,
          signature: sign(null, checkpointMessage(prev.seq, prev.hash), forger.privateKey).toString("base64"),
          keyId: forger.keyId,
        };
      }
      rechain(lines, i);
    }
    write(lines);
    const r = verifyAuditLog(path, { publicKey: key.publicKey });
    expect(r).toMatchObject({ ok: false, brokenAtSeq: 7 });
    expect(!r.ok && r.reason).toContain("signature not valid");
  });

  it("audit checkpoints - a rewrite with the checkpoints stripped is caught by the anchor", async () => {
    const { lines } = await writeLog();
    lines[7]!.actor = "device:someone-else";
    const stripped = rechain(lines.filter((r) => r.type !== "audit.checkpoint"));
    write(stripped);
    expect(verifyAuditLog(path, { publicKey: key.publicKey })).toMatchObject({ ok: true, checkpoints: 0 });
    const r = verify();
    expect(r.ok).toBe(false);
    expect(!r.ok && r.reason).toMatch(/anchor/);
  });

  it("audit checkpoints - records removed from the end are detected relative to the anchor", async () => {
    const { lines } = await writeLog();
    write(lines.slice(0, 12));
    expect(verifyAuditLog(path, { publicKey: key.publicKey })).toMatchObject({ ok: true, records: 12 });
    const r = verify();
    expect(r).toMatchObject({ ok: false, brokenAtSeq: 13 });
    expect(!r.ok && r.reason).toContain("removed from the end");
    // Removing only the closing checkpoint keeps everything the anchor vouches for.
    write(lines.slice(0, 14));
    expect(verify()).toMatchObject({ ok: true, records: 14 });
  });

  it("audit checkpoints - a deleted middle line is reported where the sequence breaks", async () => {
    const { lines } = await writeLog();
    write([...lines.slice(0, 3), ...lines.slice(4)]);
    expect(verify()).toMatchObject({ ok: false, brokenAtSeq: 4 });
  });

  it("audit checkpoints - an altered anchor is refused by its signature", async () => {
    await writeLog();
    const anchor = readAnchor(anchorPath);
    const r = verifyAuditLog(path, { publicKey: key.publicKey, anchor: { ...anchor, seq: 9, hash: read()[8]!.hash } });
    expect(r).toMatchObject({ ok: false, brokenAtSeq: 0 });
    expect(!r.ok && r.reason).toContain("anchor's signature");
  });

  it("audit checkpoints - a log reopened continues the chain and signs again on close", async () => {
    await writeLog();
    const log = new FileAuditLog(path, { checkpoints: { key, every: 5, anchorPath } });
    log.append(ev(99));
    await log.close();
    expect(verify()).toMatchObject({ ok: true, records: 17, checkpoints: 4, signedThrough: 16 });
  });
});
