import { X509Certificate } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isOutpostError } from "@outpost/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyAuditLog } from "../src/audit/verify.js";
import { initDataDir } from "../src/config/init.js";
import { onboardDevice } from "../src/config/onboard.js";
import { loadServerConfig, validateServerConfig } from "../src/config/server-config.js";
import { createDeviceCsr } from "../src/pki/csr.js";
import { loadPrivateKey } from "../src/pki/keys.js";
import { SqliteRegistry } from "../src/registry/sqlite.js";

async function codeOf(fn: () => unknown): Promise<string | undefined> {
  try {
    await fn();
  } catch (e) {
    return isOutpostError(e) ? e.code : `non-outpost: ${String(e)}`;
  }
  return undefined;
}

const mode = (p: string) => statSync(p).mode & 0o777;

describe("config", () => {
  let root: string;
  let dir: string;
  let adminToken: string;
  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), "outpost-cfg-"));
    dir = join(root, "data");
    ({ adminToken } = await initDataDir(dir, { hosts: ["edge.example", "127.0.0.1"] }));
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it("config - init writes the layout with private keys at 0600", () => {
    const c = loadServerConfig(dir);
    for (const p of [
      c.paths.caCert,
      c.paths.caKey,
      c.paths.serverCert,
      c.paths.serverKey,
      c.paths.registry,
      c.paths.audit,
    ]) {
      expect(existsSync(p), p).toBe(true);
    }
    expect(mode(c.paths.caKey)).toBe(0o600);
    expect(mode(c.paths.serverKey)).toBe(0o600);
    expect(mode(c.paths.audit)).toBe(0o600);
    expect(mode(dir)).toBe(0o700);
    const server = new X509Certificate(readFileSync(c.paths.serverCert));
    expect(server.checkIssued(new X509Certificate(readFileSync(c.paths.caCert)))).toBe(true);
    expect(server.checkHost("edge.example")).toBe("edge.example");
    expect(c.edge).toMatchObject({ port: 8443, publicUrl: "wss://edge.example:8443", clientCert: "required" });
    expect(c.operator).toMatchObject({ enabled: true, port: 8444 });
    expect(c.edge.authDeadlineMs).toBe(10_000);
  });

  it("config - init creates an admin whose token checks and audits the change", () => {
    const c = loadServerConfig(dir);
    const reg = new SqliteRegistry(c.paths.registry);
    try {
      const r = reg.checkOperator(adminToken);
      expect(r).toMatchObject({ ok: true, operator: { name: "admin", admin: true } });
    } finally {
      reg.close();
    }
    expect(verifyAuditLog(c.paths.audit)).toMatchObject({ ok: true });
    expect(readFileSync(c.paths.audit, "utf8")).toContain('"admin.change"');
    expect(readFileSync(c.paths.audit, "utf8")).not.toContain(adminToken.slice(21));
  });

  it("config - init refuses an initialised directory without force", async () => {
    expect(await codeOf(() => initDataDir(dir))).toBe("OUTPOST_CONFLICT");
  });

  it("config - init with force moves the old files aside", async () => {
    const d2 = join(root, "forced");
    await initDataDir(d2);
    const second = await initDataDir(d2, { force: true, adminName: "root" });
    const names = readdirSync(d2);
    const backup = names.find((n) => n.startsWith("previous-"));
    expect(backup).toBeDefined();
    expect(existsSync(join(d2, backup!, "registry.db"))).toBe(true);
    const reg = new SqliteRegistry(second.paths.registry);
    expect(reg.listOperators().map((o) => o.name)).toEqual(["root"]);
    reg.close();
  });

  it("config - CA key can be passphrase-protected", async () => {
    const d3 = join(root, "locked");
    await initDataDir(d3, { caPassphrase: "ca-pw" });
    const keyPem = readFileSync(join(d3, "ca", "ca.key"), "utf8");
    expect(keyPem).toContain("ENCRYPTED");
    expect(await codeOf(() => onboardDevice(d3, { deviceId: "d", outDir: join(root, "b-locked-1") }))).toBe(
      "OUTPOST_TLS",
    );
    expect(existsSync(join(root, "b-locked-1"))).toBe(false);
    const reg = new SqliteRegistry(join(d3, "registry.db"));
    expect(reg.getDevice("d")).toBeUndefined();
    reg.close();
    const r = await onboardDevice(d3, { deviceId: "d", outDir: join(root, "b-locked-2"), caPassphrase: "ca-pw" });
    expect(r.deviceId).toBe("d");
  });

  it("config - invalid config.json is a typed error naming the field", () => {
    const check = (raw: unknown) => {
      try {
        validateServerConfig(raw);
        return "valid";
      } catch (e) {
        return isOutpostError(e, "OUTPOST_INVALID_CONFIG") ? e.message : String(e);
      }
    };
    expect(check({})).toBe("valid");
    expect(check([])).toContain("top level");
    expect(check({ edge: { port: 70000 } })).toContain("edge.port");
    expect(check({ edge: { port: "8443" } })).toContain("edge.port");
    expect(check({ edge: { clientCert: "none" } })).toContain("edge.clientCert");
    expect(check({ edge: { publicUrl: "http://x" } })).toContain("edge.publicUrl");
    expect(check({ operator: { enabled: "yes" } })).toContain("operator.enabled");
    expect(check({ limits: { maxFrameBytes: -1 } })).toContain("limits.maxFrameBytes");
    expect(check({ limits: { bogus: 1 } })).toContain("limits.bogus");
    expect(check({ logLevel: "loud" })).toContain("logLevel");
    expect(check({ version: 2 })).toContain("version");
    expect(validateServerConfig({ limits: { maxBatch: 10 } }).limits).toEqual({ maxBatch: 10 });
    expect(check({ limits: { maxFrameBytes: 512 } })).toContain("limits.maxFrameBytes");
    expect(check({ limits: { streamWindow: 16 * 1024 * 1024 + 1 } })).toContain("limits.streamWindow");
    expect(check({ limits: { streamWindow: 0 } })).toContain("limits.streamWindow");
    expect(check({ limits: { connectionWindow: 256 * 1024 * 1024 + 1 } })).toContain("limits.connectionWindow");
    expect(check({ limits: { maxStreams: "many" } })).toContain("limits.maxStreams");
    expect(check({ limits: { maxStreams: 65_537 } })).toContain("limits.maxStreams");
    const streams = { streamWindow: 16 * 1024 * 1024, connectionWindow: 4 * 1024 * 1024, maxStreams: 16 };
    expect(validateServerConfig({ limits: streams }).limits).toEqual(streams);
    expect(check({ edge: { maxUnauthenticated: 0 } })).toContain("edge.maxUnauthenticated");
    expect(check({ edge: { maxUnauthenticatedPerSource: 0 } })).toContain("edge.maxUnauthenticatedPerSource");
    expect(check({ edge: { maxUnauthenticatedPerIdentity: 1.5 } })).toContain("edge.maxUnauthenticatedPerIdentity");
    expect(
      validateServerConfig({ edge: { maxUnauthenticatedPerSource: 500, maxUnauthenticatedPerIdentity: 2 } }).edge,
    ).toMatchObject({ maxUnauthenticatedPerSource: 500, maxUnauthenticatedPerIdentity: 2 });
    expect(check({ edge: { sendBufferBytes: 10 } })).toContain("edge.sendBufferBytes");
    expect(check({ edge: { revalidateIntervalMs: "5s" } })).toContain("edge.revalidateIntervalMs");
    const edge = validateServerConfig({ edge: { revalidateIntervalMs: 1000 } }).edge;
    expect(edge).toMatchObject({
      revalidateIntervalMs: 1000,
      pingIntervalMs: 30_000,
      sendBufferBytes: 32 * 1024 * 1024,
      maxUnauthenticated: 1000,
      maxUnauthenticatedPerSource: 100,
      maxUnauthenticatedPerIdentity: 8,
    });
    expect(validateServerConfig({}).deviceLimits).toEqual({
      maxPropertiesPerThing: 1000,
      eventsPerSecond: 1000,
      eventBurst: 10_000,
    });
    expect(validateServerConfig({ deviceLimits: { eventsPerSecond: 50 } }).deviceLimits.eventsPerSecond).toBe(50);
    expect(check({ deviceLimits: { maxPropertiesPerThing: 0 } })).toContain("deviceLimits.maxPropertiesPerThing");
    expect(check({ deviceLimits: { eventBurst: "lots" } })).toContain("deviceLimits.eventBurst");
    expect(check({ deviceLimits: 5 })).toContain("deviceLimits");
  });

  it("config - a missing or unparsable config.json is a typed error", async () => {
    expect(await codeOf(() => loadServerConfig(join(root, "nowhere")))).toBe("OUTPOST_INVALID_CONFIG");
    const d4 = join(root, "broken");
    await initDataDir(d4);
    writeFileSync(join(d4, "config.json"), "{ nope");
    expect(await codeOf(() => loadServerConfig(d4))).toBe("OUTPOST_INVALID_CONFIG");
  });
});

describe("onboarding", () => {
  let root: string;
  let dir: string;
  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), "outpost-onb-"));
    dir = join(root, "data");
    await initDataDir(dir);
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it("config - onboarding writes a bundle whose key and certificate work", async () => {
    const out = join(root, "pump-1");
    const r = await onboardDevice(dir, {
      deviceId: "pump-1",
      things: ["pump", "valve"],
      passphrase: "pw",
      outDir: out,
    });
    expect(readdirSync(out).sort()).toEqual(["app-key", "ca.pem", "device.json", "device.key", "device.pem"]);
    expect(mode(r.files.appKey)).toBe(0o600);
    expect(mode(r.files.key!)).toBe(0o600);
    const manifest = JSON.parse(readFileSync(r.files.manifest, "utf8"));
    expect(manifest).toMatchObject({
      deviceId: "pump-1",
      url: "wss://localhost:8443",
      things: ["pump", "valve"],
      files: { ca: "ca.pem", cert: "device.pem", key: "device.key", appKey: "app-key" },
      keyEncrypted: true,
      keyId: r.keyId,
    });
    expect(readFileSync(r.files.manifest, "utf8")).not.toContain(r.appKey.slice(21));
    const cert = new X509Certificate(readFileSync(r.files.cert));
    expect(cert.subject).toBe("CN=pump-1");
    expect(cert.checkIssued(new X509Certificate(readFileSync(r.files.ca)))).toBe(true);
    expect(cert.checkPrivateKey(loadPrivateKey(readFileSync(r.files.key!, "utf8"), "pw"))).toBe(true);

    const reg = new SqliteRegistry(join(dir, "registry.db"));
    try {
      expect(readFileSync(r.files.appKey, "utf8").trim()).toBe(r.appKey);
      expect(reg.checkKey(r.appKey)).toMatchObject({ ok: true, key: { deviceId: "pump-1" } });
      expect(reg.listThings("pump-1").map((t) => t.name)).toEqual(["pump", "valve"]);
      expect(reg.can({ kind: "device", id: "pump-1" }, "valve", "event.emit")).toBe(true);
    } finally {
      reg.close();
    }
    // init and onboarding: one record each, each followed by the checkpoint written on close.
    expect(verifyAuditLog(join(dir, "audit.log"))).toMatchObject({ ok: true, records: 4, checkpoints: 0 });
  });

  it("config - onboarding from a CSR writes no key and signs the device's own key", async () => {
    const { csrPem, keyPem } = createDeviceCsr({ deviceId: "sensor-9" });
    const out = join(root, "sensor-9");
    const r = await onboardDevice(dir, { deviceId: "sensor-9", csrPem, keyTtlMs: 86_400_000, outDir: out });
    expect(r.files.key).toBeUndefined();
    expect(existsSync(join(out, "device.key"))).toBe(false);
    expect(JSON.parse(readFileSync(r.files.manifest, "utf8")).files.key).toBeNull();
    const cert = new X509Certificate(readFileSync(r.files.cert));
    expect(cert.checkPrivateKey(loadPrivateKey(keyPem))).toBe(true);
    const reg = new SqliteRegistry(join(dir, "registry.db"));
    expect(reg.listKeys("sensor-9")[0]?.expiresAt).not.toBeNull();
    reg.close();
  });

  it("config - onboarding refuses duplicates, taken Things, a CSR for another device and a used bundle dir", async () => {
    expect(await codeOf(() => onboardDevice(dir, { deviceId: "pump-1", outDir: join(root, "x1") }))).toBe(
      "OUTPOST_CONFLICT",
    );
    expect(
      await codeOf(() => onboardDevice(dir, { deviceId: "pump-2", things: ["pump"], outDir: join(root, "x2") })),
    ).toBe("OUTPOST_CONFLICT");
    const { csrPem } = createDeviceCsr({ deviceId: "other" });
    expect(await codeOf(() => onboardDevice(dir, { deviceId: "pump-3", csrPem, outDir: join(root, "x3") }))).toBe(
      "OUTPOST_FORBIDDEN",
    );
    expect(await codeOf(() => onboardDevice(dir, { deviceId: "pump-4", outDir: join(root, "pump-1") }))).toBe(
      "OUTPOST_CONFLICT",
    );
    expect(await codeOf(() => onboardDevice(dir, { deviceId: "bad id", outDir: join(root, "x5") }))).toBe(
      "OUTPOST_BAD_REQUEST",
    );
    const reg = new SqliteRegistry(join(dir, "registry.db"));
    expect(reg.listDevices().map((d) => d.id)).toEqual(["pump-1", "sensor-9"]);
    reg.close();
  });
});
