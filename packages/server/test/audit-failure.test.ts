import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { get as httpsGet } from "node:https";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import { GoodbyeReason } from "@outpost/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FileAuditLog } from "../src/audit/audit-log.js";
import { MemoryAuditLog } from "../src/audit/memory-audit-log.js";
import type { AuditEvent, AuditRecord, AuditSink } from "../src/audit/types.js";
import { verifyAuditLog } from "../src/audit/verify.js";
import { createLogger } from "../src/logging/logger.js";
import { connectDevice, makePki, readyDevice, startTestServer, type TestPki } from "./edge-harness.js";

/** An audit sink that throws like a full disk while `failing` is set. */
class FlakySink implements AuditSink {
  readonly inner = new MemoryAuditLog();
  failing = false;
  append(event: AuditEvent): AuditRecord {
    if (this.failing) throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
    return this.inner.append(event);
  }
  async flush(): Promise<void> {
    if (this.failing) throw new Error("ENOSPC: no space left on device, fsync");
  }
  async close(): Promise<void> {}
}

function captureLogger(): { lines: () => Record<string, unknown>[]; logger: ReturnType<typeof createLogger> } {
  const raw: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      raw.push(chunk.toString("utf8"));
      cb();
    },
  });
  return {
    logger: createLogger({ destination: stream, level: "debug" }),
    lines: () =>
      raw
        .join("")
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

/** GET /api/health of the operator API, parsed. */
function healthRoute(operatorUrl: string, ca: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    httpsGet(`${operatorUrl}/api/health`, { ca }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve(JSON.parse(Buffer.concat(chunks).toString("utf8"))));
    }).on("error", reject);
  });
}

let pki: TestPki;

beforeAll(() => {
  pki = makePki(["dev-1", "dev-2"]);
});

describe("audit failure", () => {
  it("audit failure - logins are refused with 503 while the sink throws, the process survives, logins resume after recovery", async () => {
    const sink = new FlakySink();
    const log = captureLogger();
    const ts = await startTestServer(pki, { audit: sink, logger: log.logger });
    try {
      const connected = await readyDevice(ts, pki, "dev-1", ["pump-1"]);
      sink.failing = true;

      // The logout of a connected device cannot be recorded either: that must not crash anything.
      await connected.close();
      for (let attempt = 0; attempt < 3; attempt++) {
        const device = await connectDevice(ts.server.edgeUrl, pki.caPem, pki.devices["dev-2"]);
        await device.hello();
        await expect(device.auth(ts.keys["dev-2"]!)).rejects.toMatchObject({
          status: 503,
          code: "OUTPOST_UNAVAILABLE",
          message: expect.stringContaining("audit log") as unknown,
        });
        const goodbye = await device.goodbye();
        expect(goodbye?.goodbye?.reconnectAfterMs).toBeGreaterThan(0);
        expect(goodbye?.goodbye?.reason).not.toBe(GoodbyeReason.AUTH_REVOKED);
        await device.close();
      }
      const health = ts.server.health().audit;
      expect(health.state).toBe("failing");
      expect(health.state === "failing" && health.error).toContain("ENOSPC");
      const route = await healthRoute(ts.server.operatorUrl!, pki.caPem);
      expect(route).toEqual({
        status: "ok",
        audit: { state: "failing", since: health.state === "failing" && health.since, lost: expect.any(Number) },
      });
      expect(JSON.stringify(route)).not.toContain("ENOSPC");
      const errors = log.lines().filter((l) => l.level === 50);
      expect(errors).toHaveLength(1);
      expect(errors[0]?.msg).toContain("audit log cannot be written");

      sink.failing = false;
      const device = await connectDevice(ts.server.edgeUrl, pki.caPem, pki.devices["dev-2"]);
      await device.hello();
      const reply = await device.auth(ts.keys["dev-2"]!);
      expect(reply.authResult?.status).toBe(200);
      expect(ts.server.health().audit.state).toBe("ok");
      expect(await healthRoute(ts.server.operatorUrl!, pki.caPem)).toEqual({ status: "ok", audit: { state: "ok" } });
      const outage = sink.inner.ofType("audit.outage");
      expect(outage).toHaveLength(1);
      expect(outage[0]?.details?.lost).toBeGreaterThanOrEqual(4);
      expect(log.lines().some((l) => l.level === 40 && String(l.msg).includes("writable again"))).toBe(true);
      await device.close();
    } finally {
      sink.failing = false;
      await ts.close();
    }
  });

  it("audit failure - a log on a full device (/dev/full) refuses logins with 503 and the server keeps running", async () => {
    const dir = mkdtempSync(join(tmpdir(), "outpost-audit-full-"));
    const path = join(dir, "audit.log");
    symlinkSync("/dev/full", path);
    const log = captureLogger();
    const audit = new FileAuditLog(path);
    const ts = await startTestServer(pki, { audit, logger: log.logger });
    try {
      for (let attempt = 0; attempt < 2; attempt++) {
        const device = await connectDevice(ts.server.edgeUrl, pki.caPem, pki.devices["dev-1"]);
        await device.hello();
        await expect(device.auth(ts.keys["dev-1"]!)).rejects.toMatchObject({
          status: 503,
          code: "OUTPOST_UNAVAILABLE",
        });
        await device.close();
      }
      const health = ts.server.health().audit;
      expect(health.state === "failing" && health.error).toMatch(/ENOSPC/);
      expect(log.lines().filter((l) => l.level === 50)).toHaveLength(1);
    } finally {
      await ts.close();
      await audit.close().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

const DIST_AUDIT_LOG = resolve(dirname(fileURLToPath(import.meta.url)), "../dist/audit/audit-log.js");

describe("audit file", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "outpost-audit-efbig-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("audit file - a write cut short by the file size limit leaves no partial record and a valid chain", () => {
    const path = join(dir, "audit.log");
    // A 4 KiB file size limit (ulimit -f counts 1 KiB blocks): appends of ~700-byte records fail
    // with EFBIG after a few, usually in the middle of a record.
    const script = `
      import { FileAuditLog } from ${JSON.stringify(DIST_AUDIT_LOG)};
      const log = new FileAuditLog(${JSON.stringify(path)});
      let ok = 0, failed = 0, code = "";
      for (let i = 0; i < 20; i++) {
        try { log.append({ type: "admin.change", actor: "system", outcome: "success", details: { pad: "x".repeat(500 + i) } }); ok++; }
        catch (err) { failed++; code = err.code; }
      }
      console.log(JSON.stringify({ ok, failed, code, lastSeq: log.lastSeq }));
    `;
    const r = spawnSync("bash", ["-c", `ulimit -f 4; exec "${process.execPath}" --input-type=module -e '${script}'`], {
      encoding: "utf8",
    });
    expect(r.status, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout.trim()) as { ok: number; failed: number; code: string; lastSeq: number };
    expect(result.ok).toBeGreaterThan(0);
    expect(result.failed).toBeGreaterThan(0);
    expect(result.code).toBe("OUTPOST_UNAVAILABLE");
    const text = readFileSync(path, "utf8");
    expect(text.endsWith("\n")).toBe(true);
    expect(verifyAuditLog(path)).toMatchObject({ ok: true, records: result.lastSeq });
    // The log opens again and continues its chain.
    const reopened = new FileAuditLog(path);
    expect(reopened.lastSeq).toBe(result.lastSeq);
    void reopened.close();
  });
});
