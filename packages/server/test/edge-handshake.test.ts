import { X509Certificate } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MemoryAuditLog } from "../src/audit/memory-audit-log.js";
import type { AuditEvent } from "../src/audit/types.js";
import {
  makePki,
  startTestServer,
  type TestPki,
  type TestServer,
  tlsHandshake,
  type TlsResume,
} from "./edge-harness.js";

let pki: TestPki;

beforeAll(() => {
  pki = makePki(["dev-1", "dev-2"]);
});

/** A TLS handshake to the edge with the test CA (see {@link tlsHandshake}). */
const handshake = (url: string, identity: { certPem: string; keyPem: string }, resume?: TlsResume) =>
  tlsHandshake(url, pki.caPem, identity, resume);

const tlsFailures = (ts: TestServer) =>
  ts.audit.records.filter((r) => r.type === "login.failure" && r.code === "OUTPOST_TLS");

describe("edge handshake", () => {
  let ts: TestServer;
  beforeAll(async () => {
    ts = await startTestServer(pki);
  });
  afterAll(async () => {
    await ts?.close();
  });

  it("edge - a certificate from another CA gets the unknown_ca alert and an audited reason", async () => {
    expect(await handshake(ts.server.edgeUrl, pki.rogue)).toMatch(/alert unknown ca/);
    const last = tlsFailures(ts).at(-1)!;
    expect(last.source).toBe("127.0.0.1");
    expect(last.details).toMatchObject({ stage: "tls-handshake", reason: "unknown-ca" });
  });

  it("edge - a revoked device certificate is refused in the handshake with certificate_revoked", async () => {
    const cert = new X509Certificate(pki.devices["dev-1"]!.certPem);
    ts.registry.recordCertificate("dev-1", {
      serialNumber: cert.serialNumber,
      fingerprint256: cert.fingerprint256,
      notAfter: new Date(cert.validTo),
    });
    expect(await handshake(ts.server.edgeUrl, pki.devices["dev-1"]!)).toBe("ok");
    ts.registry.revokeCertificates("dev-1");
    expect(await handshake(ts.server.edgeUrl, pki.devices["dev-1"]!)).toMatch(/alert certificate revoked/);
    expect(tlsFailures(ts).at(-1)?.details).toMatchObject({
      reason: "revoked",
      certDeviceId: "dev-1",
      serial: cert.serialNumber,
    });
    // Another device is not affected.
    expect(await handshake(ts.server.edgeUrl, pki.devices["dev-2"]!)).toBe("ok");
  });

  it("edge - a resumed TLS session of a device disabled since gets the access_denied alert too", async () => {
    const resume: { session?: Buffer; reused?: boolean } = {};
    expect(await handshake(ts.server.edgeUrl, pki.devices["dev-2"]!, resume)).toBe("ok");
    expect(resume.session).toBeDefined();
    ts.registry.setDeviceDisabled("dev-2", true);
    try {
      expect(await handshake(ts.server.edgeUrl, pki.devices["dev-2"]!, resume)).toMatch(/alert access denied/);
      expect(resume.reused).toBe(true);
    } finally {
      ts.registry.setDeviceDisabled("dev-2", false);
    }
  });

  it("edge - a disabled device is refused in the handshake with access_denied", async () => {
    ts.registry.setDeviceDisabled("dev-2", true);
    try {
      expect(await handshake(ts.server.edgeUrl, pki.devices["dev-2"]!)).toMatch(/alert access denied/);
      expect(tlsFailures(ts).at(-1)?.details).toMatchObject({ reason: "device-disabled" });
    } finally {
      ts.registry.setDeviceDisabled("dev-2", false);
    }
  });
});

class ThrowingAuditLog extends MemoryAuditLog {
  override append(_event: AuditEvent): never {
    throw new Error("ENOSPC: no space left on device");
  }
}

describe("edge handshake with a failing audit sink", () => {
  it("edge - refused handshakes while the audit sink throws do not end the process", async () => {
    const ts = await startTestServer(pki, { audit: new ThrowingAuditLog() });
    try {
      for (let i = 0; i < 3; i++) {
        expect(await handshake(ts.server.edgeUrl, pki.rogue)).toMatch(/alert unknown ca/);
      }
      expect(await handshake(ts.server.edgeUrl, pki.devices["dev-1"]!)).toBe("ok");
    } finally {
      await ts.close();
    }
  });
});
