import { X509Certificate } from "node:crypto";
import { toWireValue } from "@outpost/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sqliteUnder } from "../src/registry/sqlite-under.js";
import type { ThingChange } from "../src/things/changes.js";
import { calls, deferredRegistry } from "./deferred-registry.js";
import {
  connectDevice,
  makePki,
  readyDevice,
  startTestServer,
  type TestPki,
  type TestServer,
  tlsHandshake,
} from "./edge-harness.js";

describe("the edge over a registry that is not the SQLite view", () => {
  let pki: TestPki;
  let ts: TestServer;
  beforeAll(async () => {
    pki = makePki(["dev-1", "dev-2"]);
    ts = await startTestServer(pki, { wrapRegistry: deferredRegistry });
  });
  afterAll(async () => {
    await ts?.close();
  });

  it("edge any registry - the server runs on it: the edge and the Thing service ask it, not the SQLite class", () => {
    expect(sqliteUnder(ts.server.things["registry"] as never)).toBeUndefined();
  });

  it("edge any registry - a device with a real certificate connects, binds and its update is stored and published", async () => {
    calls.length = 0;
    const changes: ThingChange[] = [];
    const unsubscribe = ts.server.things.subscribe({ thing: "pump-1" }, (c) => changes.push(c));
    const device = await readyDevice(ts, pki, "dev-1", ["pump-1"]);
    const reply = await device.channel.request({
      propertyUpdate: { values: [{ thing: "pump-1", name: "speed", value: toWireValue(7), timestampMs: 1, seq: 1 }] },
    });
    expect(reply.response?.status).toBe(200);
    expect(ts.registry.getProperties("pump-1").map((p) => [p.name, p.value])).toEqual([["speed", 7]]);
    expect(changes).toMatchObject([{ type: "property", thing: "pump-1", name: "speed", value: 7 }]);
    expect(calls).toContain("certificateStatus");
    unsubscribe();
    await device.close();
  });

  it("edge any registry - a revoked certificate gets the certificate_revoked alert, decided by the registry's Promise", async () => {
    const cert = new X509Certificate(pki.devices["dev-2"]!.certPem);
    ts.registry.recordCertificate("dev-2", {
      serialNumber: cert.serialNumber,
      fingerprint256: cert.fingerprint256,
      notAfter: new Date(cert.validTo),
    });
    expect(await tlsHandshake(ts.server.edgeUrl, pki.caPem, pki.devices["dev-2"]!)).toBe("ok");
    ts.registry.revokeCertificates("dev-2");
    expect(await tlsHandshake(ts.server.edgeUrl, pki.caPem, pki.devices["dev-2"]!)).toMatch(
      /alert certificate revoked/,
    );
    // The WebSocket upgrade waits for the same answer: no session opens.
    await expect(connectDevice(ts.server.edgeUrl, pki.caPem, pki.devices["dev-2"])).rejects.toThrow();
    expect(ts.audit.records.filter((r) => r.type === "login.failure").at(-1)?.details).toMatchObject({
      reason: "revoked",
    });
  });
});
