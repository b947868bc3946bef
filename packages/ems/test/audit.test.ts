import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { verifyAuditLog } from "../../server/src/audit/verify.js";
import { DeviceAuditLog, verifyDeviceAudit } from "../src/audit/device-audit.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function logPath(): string {
  const d = mkdtempSync(join(tmpdir(), "ems-audit-"));
  dirs.push(d);
  return join(d, "audit.log");
}

describe("ems audit - device log in the server's format", () => {
  it("records chain across reopen and verify with the device's and the server's verifier", () => {
    const path = logPath();
    const a = new DeviceAuditLog(path);
    a.append({ type: "login.success", actor: "device:d1", target: "wss://s/edge", outcome: "success" });
    a.close();
    const b = new DeviceAuditLog(path);
    b.append({ type: "login.failure", actor: "device:d1", outcome: "failure", code: "OUTPOST_UNAUTHORIZED" });
    b.close();
    expect(verifyDeviceAudit(path)).toMatchObject({ ok: true, records: 2 });
    expect(verifyAuditLog(path)).toMatchObject({ ok: true, records: 2 });
  });

  it("an edited record is reported by both verifiers at its seq", () => {
    const path = logPath();
    const a = new DeviceAuditLog(path);
    for (let i = 0; i < 3; i++)
      a.append({ type: "login.success", actor: "device:d1", outcome: "success", details: { n: i } });
    a.close();
    writeFileSync(path, readFileSync(path, "utf8").replace('"n":1', '"n":7'));
    expect(verifyDeviceAudit(path)).toMatchObject({ ok: false, brokenAtSeq: 2 });
    expect(verifyAuditLog(path)).toMatchObject({ ok: false, brokenAtSeq: 2 });
  });

  it("a torn last line is removed at open and the chain goes on", () => {
    const path = logPath();
    const a = new DeviceAuditLog(path);
    a.append({ type: "login.success", actor: "device:d1", outcome: "success" });
    a.close();
    appendFileSync(path, '{"seq":2,"ti');
    let dropped = 0;
    const b = new DeviceAuditLog(path, (n) => (dropped = n));
    expect(dropped).toBe(12);
    b.append({ type: "login.success", actor: "device:d1", outcome: "success" });
    b.close();
    expect(verifyDeviceAudit(path)).toMatchObject({ ok: true, records: 2 });
  });
});
