import { request as httpsRequest } from "node:https";
import {
  ErrorCode,
  GoodbyeReason,
  isOutpostError,
  OutpostError,
  PROTOCOL_VERSION,
  Status,
  toWireValue,
} from "@outpost/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ThingChange } from "../src/things/changes.js";
import { connectDevice, makePki, readyDevice, startTestServer, type TestPki, type TestServer } from "./edge-harness.js";

let pki: TestPki;
let ts: TestServer;

beforeAll(async () => {
  pki = makePki(["dev-1", "dev-2", "dev-3"]);
  ts = await startTestServer(pki);
  // Registered without a key: its certificate passes the handshake, its logins fail.
  ts.registry.createDevice("dev-3");
});

afterAll(async () => {
  await ts?.close();
});

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error("expected a rejection");
    },
    (err: unknown) => err,
  );
}

describe("edge", () => {
  it("edge - hello, auth, bind and property update are acknowledged, stored and published", async () => {
    const changes: ThingChange[] = [];
    const unsubscribe = ts.server.things.subscribe({ thing: "pump-1" }, (c) => changes.push(c));
    const device = await connectDevice(ts.server.edgeUrl, pki.caPem, pki.devices["dev-1"]);
    const ack = await device.hello();
    expect(ack.helloAck?.version).toBe(PROTOCOL_VERSION);
    const auth = await device.auth(ts.keys["dev-1"]!);
    expect(auth.authResult?.status).toBe(Status.OK);
    expect(auth.authResult?.deviceId).toBe("dev-1");
    const bind = await device.bind(["pump-1"]);
    expect(bind.response?.items?.map((i) => [i.key, i.status])).toEqual([["pump-1", 200]]);
    const reply = await device.channel.request({
      propertyUpdate: {
        values: [{ thing: "pump-1", name: "speed", value: toWireValue(42), timestampMs: 1000, seq: 1 }],
      },
    });
    expect(reply.response?.status).toBe(200);
    expect(reply.response?.items).toEqual([]);
    expect(ts.registry.getProperties("pump-1").map((p) => [p.name, p.value])).toEqual([["speed", 42]]);
    expect(changes).toMatchObject([{ type: "property", thing: "pump-1", name: "speed", value: 42, deviceId: "dev-1" }]);
    expect(ts.audit.ofType("login.success").some((r) => r.actor === "device:dev-1")).toBe(true);
    unsubscribe();
    await device.close();
  });

  it("edge - an update re-sent after a lost ack is acknowledged but not applied twice", async () => {
    const device = await readyDevice(ts, pki, "dev-2", ["pump-2"]);
    const changes: ThingChange[] = [];
    const unsubscribe = ts.server.things.subscribe({ thing: "pump-2" }, (c) => changes.push(c));
    const batch = {
      propertyUpdate: { values: [{ thing: "pump-2", name: "level", value: toWireValue(1), timestampMs: 5, seq: 10 }] },
    };
    await device.channel.request(batch);
    await device.channel.request(batch);
    const newer = await device.channel.request({
      propertyUpdate: { values: [{ thing: "pump-2", name: "level", value: toWireValue(2), timestampMs: 6, seq: 11 }] },
    });
    // Every item accepted: acknowledged as a whole, without per-item statuses.
    expect(newer.response?.status).toBe(200);
    expect(newer.response?.items).toEqual([]);
    expect(changes.map((c) => (c.type === "property" ? c.value : null))).toEqual([1, 2]);
    expect(ts.registry.getDelivery("dev-2", 0).runs).toEqual([[10, 11]]);
    unsubscribe();
    await device.close();
  });

  it("edge - wrong application key gets 401 and an audited login failure without the secret", async () => {
    const device = await connectDevice(ts.server.edgeUrl, pki.caPem, pki.devices["dev-3"]);
    await device.hello();
    const wrong = `${ts.keys["dev-1"]!.slice(0, -4)}AAAA`;
    const err = await rejection(device.auth(wrong));
    expect(isOutpostError(err, "OUTPOST_UNAUTHORIZED")).toBe(true);
    expect((await device.goodbye())?.body).toBe("goodbye");
    const failure = ts.audit.ofType("login.failure").at(-1)!;
    expect(failure.code).toBe("OUTPOST_UNAUTHORIZED");
    expect(JSON.stringify(failure)).not.toContain(wrong.split("_").at(-1));
  });

  it("edge - a revoked key is refused with 401 and Goodbye AUTH_REVOKED", async () => {
    const { key, record } = ts.registry.createKey("dev-1");
    ts.registry.revokeKey(record.keyId);
    const device = await connectDevice(ts.server.edgeUrl, pki.caPem, pki.devices[record.deviceId]);
    await device.hello();
    const err = await rejection(device.auth(key));
    expect(isOutpostError(err, "OUTPOST_UNAUTHORIZED")).toBe(true);
    expect((err as Error).message).toContain("revoked");
    expect((await device.goodbye())?.goodbye?.reason).toBe(GoodbyeReason.AUTH_REVOKED);
  });

  it("edge - the key of another device is refused with 403 (certificate CN mismatch)", async () => {
    const device = await connectDevice(ts.server.edgeUrl, pki.caPem, pki.devices["dev-2"]);
    await device.hello();
    const err = await rejection(device.auth(ts.keys["dev-1"]!));
    expect(isOutpostError(err, "OUTPOST_FORBIDDEN")).toBe(true);
    expect(ts.audit.ofType("login.failure").at(-1)?.code).toBe("OUTPOST_FORBIDDEN");
  });

  it("edge - bind answers 404 for an unknown Thing and 403 for another device's Thing", async () => {
    const device = await connectDevice(ts.server.edgeUrl, pki.caPem, pki.devices["dev-1"]);
    await device.hello();
    await device.auth(ts.keys["dev-1"]!);
    const bind = await device.bind(["pump-1", "pump-2", "nope"]);
    expect(bind.response?.items?.map((i) => i.status)).toEqual([200, 403, 404]);
    const update = await device.channel.request({
      propertyUpdate: { values: [{ thing: "pump-2", name: "level", value: toWireValue(9) }] },
    });
    expect(update.response?.items?.[0]?.status).toBe(403);
    expect(ts.audit.ofType("denied").some((r) => r.target === "thing:pump-2")).toBe(true);
    await device.close();
  });

  it("edge - a connection without a trusted client certificate is refused during the TLS handshake", async () => {
    await expect(connectDevice(ts.server.edgeUrl, pki.caPem)).rejects.toThrow();
    await expect(connectDevice(ts.server.edgeUrl, pki.caPem, pki.rogue)).rejects.toThrow();
  });

  it("edge - a malformed frame closes only that connection and others keep working", async () => {
    const good = await readyDevice(ts, pki, "dev-2", ["pump-2"]);
    const bad = await connectDevice(ts.server.edgeUrl, pki.caPem, pki.devices["dev-3"]);
    const closed = new Promise<number>((resolve) => bad.ws.once("close", (code) => resolve(code)));
    bad.ws.send(Buffer.from([0xff, 0xff, 0xff, 0x0f, 0x01]));
    expect(await closed).toBe(1002);
    const text = await connectDevice(ts.server.edgeUrl, pki.caPem, pki.devices["dev-3"]);
    const textClosed = new Promise<number>((resolve) => text.ws.once("close", (code) => resolve(code)));
    text.ws.send("hello as text");
    expect(await textClosed).toBe(1002);
    const reply = await good.channel.request({ unbind: { things: [] } });
    expect(reply.response?.status).toBe(200);
    await good.close();
  });

  it("edge - frames other than Hello/Auth/KeepAlive/Goodbye before authentication close the connection", async () => {
    const device = await connectDevice(ts.server.edgeUrl, pki.caPem, pki.devices["dev-1"]);
    await device.hello();
    const bind = device.bind(["pump-1"]).catch((e: unknown) => e);
    const goodbye = await device.goodbye();
    expect(goodbye?.goodbye?.reason).toBe(GoodbyeReason.PROTOCOL_ERROR);
    expect(isOutpostError(await bind)).toBe(true);
  });

  it("edge - a KeepAlive probe is answered with the same timestamp and reply set; answers are not answered", async () => {
    const device = await connectDevice(ts.server.edgeUrl, pki.caPem, pki.devices["dev-1"]);
    device.channel.send({ keepAlive: { timestampMs: 1234, reply: true } });
    device.channel.send({ keepAlive: { timestampMs: 5678, reply: false } });
    const answer = await device.next();
    expect(answer?.keepAlive).toMatchObject({ timestampMs: 5678, reply: true });
    await device.close();
  });

  it("edge - a newer connection of the same device replaces the older with Goodbye REPLACED", async () => {
    const first = await readyDevice(ts, pki, "dev-1", ["pump-1"]);
    const second = await readyDevice(ts, pki, "dev-1", ["pump-1"]);
    const goodbye = await first.goodbye();
    expect(goodbye?.goodbye?.reason).toBe(GoodbyeReason.REPLACED);
    const reply = await second.channel.request({ unbind: { things: [] } });
    expect(reply.response?.status).toBe(200);
    await second.close();
  });

  it("edge - a device invokes a server service; an unknown service is 404", async () => {
    ts.server.registerService("*", "time", (params, ctx) => ({
      echo: typeof params.x === "string" ? params.x : null,
      device: ctx.deviceId,
      thing: ctx.thing,
    }));
    const device = await readyDevice(ts, pki, "dev-2", ["pump-2"]);
    const reply = await device.channel.request({
      serviceInvoke: { thing: "pump-2", service: "time", params: { x: toWireValue("hi") } },
    });
    expect(JSON.parse(reply.response?.result?.jsonValue ?? "null")).toEqual({
      echo: "hi",
      device: "dev-2",
      thing: "pump-2",
    });
    const err = await rejection(device.channel.request({ serviceInvoke: { thing: "pump-2", service: "missing" } }));
    expect(isOutpostError(err, "OUTPOST_NOT_FOUND")).toBe(true);
    await device.close();
  });

  it("edge - a server service error or overrun reaches the device as a typed error", async () => {
    ts.server.registerService("pump-2", "fail", () => {
      throw new OutpostError(ErrorCode.Conflict, "busy");
    });
    ts.server.registerService("pump-2", "hang", () => new Promise<never>(() => {}));
    const device = await readyDevice(ts, pki, "dev-2", ["pump-2"]);
    const conflict = await rejection(device.channel.request({ serviceInvoke: { thing: "pump-2", service: "fail" } }));
    expect(isOutpostError(conflict, "OUTPOST_CONFLICT")).toBe(true);
    const overrun = await rejection(
      device.channel.request({ serviceInvoke: { thing: "pump-2", service: "hang", timeoutMs: 50 } }),
    );
    expect(isOutpostError(overrun, "OUTPOST_TIMEOUT")).toBe(true);
    const unbound = await rejection(device.channel.request({ serviceInvoke: { thing: "pump-1", service: "time" } }));
    expect(isOutpostError(unbound, "OUTPOST_FORBIDDEN")).toBe(true);
    await device.close();
  });

  it("edge - server close says Goodbye SHUTDOWN to connected devices", async () => {
    const local = await startTestServer(pki);
    const device = await connectDevice(local.server.edgeUrl, pki.caPem, pki.devices["dev-1"]);
    await device.hello();
    await device.auth(local.keys["dev-1"]!);
    const goodbye = device.goodbye();
    await local.close();
    expect((await goodbye)?.goodbye?.reason).toBe(GoodbyeReason.SHUTDOWN);
  });

  it("edge - a plain HTTPS request without upgrade gets 426", async () => {
    const status = await new Promise<number | undefined>((resolve, reject) => {
      const req = httpsRequest(
        ts.server.edgeUrl.replace("wss:", "https:"),
        { ca: pki.caPem, cert: pki.devices["dev-1"]!.certPem, key: pki.devices["dev-1"]!.keyPem },
        (res) => {
          res.resume();
          resolve(res.statusCode);
        },
      );
      req.on("error", reject);
      req.end();
    });
    expect(status).toBe(426);
  });
});

describe("edge limits", () => {
  it("edge - optional client certificates let the application key alone identify the device", async () => {
    const local = await startTestServer(pki, {
      edge: {
        port: 0,
        certPem: pki.serverCertPem,
        keyPem: pki.serverKeyPem,
        clientCaPem: pki.caPem,
        clientCert: "optional",
      },
      operator: false,
    });
    try {
      const device = await connectDevice(local.server.edgeUrl, pki.caPem);
      await device.hello();
      const auth = await device.auth(local.keys["dev-2"]!);
      expect(auth.authResult?.deviceId).toBe("dev-2");
      expect(local.audit.ofType("login.success").at(-1)?.details).toMatchObject({ clientCert: false });
      await device.close();
    } finally {
      await local.close();
    }
  });

  it("edge - a Hello with no common protocol version gets Goodbye PROTOCOL_ERROR", async () => {
    const device = await connectDevice(ts.server.edgeUrl, pki.caPem, pki.devices["dev-1"]);
    const hello = device.channel.request({ hello: { minVersion: 7, maxVersion: 9 } }).catch((e: unknown) => e);
    const goodbye = await device.goodbye();
    expect(goodbye?.goodbye?.reason).toBe(GoodbyeReason.PROTOCOL_ERROR);
    expect(goodbye?.goodbye?.message).toContain("no common protocol version");
    expect(goodbye?.goodbye?.code).toBe(ErrorCode.UnsupportedVersion);
    expect(isOutpostError(await hello)).toBe(true);
  });
  it("edge - authentication deadline closes an unauthenticated connection with Goodbye", async () => {
    const local = await startTestServer(pki, {
      edge: {
        port: 0,
        certPem: pki.serverCertPem,
        keyPem: pki.serverKeyPem,
        clientCaPem: pki.caPem,
        authDeadlineMs: 200,
      },
      operator: false,
    });
    try {
      const device = await connectDevice(local.server.edgeUrl, pki.caPem, pki.devices["dev-1"]);
      await device.hello();
      const goodbye = await device.goodbye();
      expect(goodbye?.goodbye?.reason).toBe(GoodbyeReason.IDLE);
    } finally {
      await local.close();
    }
  });

  it("edge - a device presenting another device's key id with garbage cannot lock that device out", async () => {
    const local = await startTestServer(pki, { authRateLimit: { maxFailures: 2, windowMs: 60_000, blockMs: 60_000 } });
    try {
      const victimKeyId = local.keys["dev-1"]!.slice(4, 20);
      const forged = `opk_${victimKeyId}_${"A".repeat(43)}`;
      const codes: string[] = [];
      for (let i = 0; i < 6; i++) {
        const attacker = await connectDevice(local.server.edgeUrl, pki.caPem, pki.devices["dev-2"]);
        await attacker.hello();
        const err = await rejection(attacker.auth(forged));
        codes.push(isOutpostError(err) ? err.code : "none");
        await attacker.close();
      }
      // The attacker blocks itself, from the same source address as the victim...
      expect(codes.slice(0, 2)).toEqual(["OUTPOST_UNAUTHORIZED", "OUTPOST_UNAUTHORIZED"]);
      expect(codes.slice(2)).toEqual(Array(4).fill("OUTPOST_TOO_MANY_REQUESTS"));
      // ...and the victim still gets in with its own certificate and key.
      const victim = await connectDevice(local.server.edgeUrl, pki.caPem, pki.devices["dev-1"]);
      await victim.hello();
      expect((await victim.auth(local.keys["dev-1"]!)).authResult?.deviceId).toBe("dev-1");
      await victim.close();
      const failures = local.audit.records.filter((r) => r.type === "login.failure");
      expect(failures.every((r) => (r.details as { certDeviceId?: string }).certDeviceId === "dev-2")).toBe(true);
    } finally {
      await local.close();
    }
  });

  it("edge - a device that keeps failing with its own key id blocks that key", async () => {
    const local = await startTestServer(pki, { authRateLimit: { maxFailures: 2, windowMs: 60_000, blockMs: 60_000 } });
    try {
      const forged = `opk_${local.keys["dev-1"]!.slice(4, 20)}_${"A".repeat(43)}`;
      for (let i = 0; i < 2; i++) {
        const device = await connectDevice(local.server.edgeUrl, pki.caPem, pki.devices["dev-1"]);
        await device.hello();
        await rejection(device.auth(forged));
        await device.close();
      }
      const device = await connectDevice(local.server.edgeUrl, pki.caPem, pki.devices["dev-1"]);
      await device.hello();
      const err = await rejection(device.auth(local.keys["dev-1"]!));
      expect(isOutpostError(err, "OUTPOST_TOO_MANY_REQUESTS")).toBe(true);
      await device.close();
    } finally {
      await local.close();
    }
  });

  it("edge - repeated failures with one certificate are rate limited with 429", async () => {
    const local = await startTestServer(pki, { authRateLimit: { maxFailures: 2, windowMs: 60_000, blockMs: 60_000 } });
    try {
      const codes: string[] = [];
      for (let i = 0; i < 3; i++) {
        const device = await connectDevice(local.server.edgeUrl, pki.caPem, pki.devices["dev-1"]);
        await device.hello();
        const err = await rejection(device.auth("opk_nothere_secret"));
        codes.push(isOutpostError(err) ? err.code : "none");
        await device.close();
      }
      expect(codes).toEqual(["OUTPOST_UNAUTHORIZED", "OUTPOST_UNAUTHORIZED", "OUTPOST_TOO_MANY_REQUESTS"]);
      const device = await connectDevice(local.server.edgeUrl, pki.caPem, pki.devices["dev-1"]);
      await device.hello();
      const err = await rejection(device.auth(local.keys["dev-1"]!));
      expect(isOutpostError(err, "OUTPOST_TOO_MANY_REQUESTS")).toBe(true);
      expect(Number((await device.goodbye())?.goodbye?.reconnectAfterMs)).toBeGreaterThan(0);
    } finally {
      await local.close();
    }
  });
});
