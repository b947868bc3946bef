import { GoodbyeReason, PROTOCOL_VERSION, toWireValue } from "@outpost/protocol";
import { beforeAll, describe, expect, it } from "vitest";
import { connectDevice, makePki, startTestServer, type TestPki } from "./edge-harness.js";

let pki: TestPki;

beforeAll(() => {
  pki = makePki(["dev-1", "dev-2"]);
});

describe("edge limits", () => {
  it("edge - connections beyond maxUnauthenticated are closed with 1013 until one authenticates", async () => {
    const ts = await startTestServer(pki, {
      edge: {
        port: 0,
        certPem: pki.serverCertPem,
        keyPem: pki.serverKeyPem,
        clientCaPem: pki.caPem,
        maxUnauthenticated: 2,
      },
    });
    const open: Array<Awaited<ReturnType<typeof connectDevice>>> = [];
    try {
      open.push(await connectDevice(ts.server.edgeUrl, pki.caPem, pki.devices["dev-1"]));
      open.push(await connectDevice(ts.server.edgeUrl, pki.caPem, pki.devices["dev-2"]));
      const third = await connectDevice(ts.server.edgeUrl, pki.caPem, pki.devices["dev-2"]);
      const code = await new Promise<number>((resolve) => third.ws.once("close", (c) => resolve(c)));
      expect(code).toBe(1013);

      await open[0]!.hello();
      await open[0]!.auth(ts.keys["dev-1"]!);
      const fourth = await connectDevice(ts.server.edgeUrl, pki.caPem, pki.devices["dev-2"]);
      open.push(fourth);
      const ack = await fourth.hello();
      expect(ack.helloAck?.version).toBe(PROTOCOL_VERSION);
    } finally {
      for (const d of open) await d.close();
      await ts.close();
    }
  });

  it("edge - a device announcing a huge request limit still gets at most the server's own", async () => {
    const ts = await startTestServer(pki, { limits: { maxConcurrentRequests: 2 } });
    const device = await connectDevice(ts.server.edgeUrl, pki.caPem, pki.devices["dev-1"]);
    try {
      await device.channel.request({
        hello: { minVersion: 1, maxVersion: PROTOCOL_VERSION, limits: { maxConcurrentRequests: 1_000_000 } },
      });
      await device.auth(ts.keys["dev-1"]!);
      await device.bind(["pump-1"]);
      const admin = { kind: "operator" as const, id: "alice" };
      // The device never answers: the first two stay pending, the third is refused at once.
      const calls = [1, 2, 3].map((n) =>
        ts.server.things.invokeService("pump-1", "slow", { n }, admin, { timeoutMs: 2_000 }).then(
          () => "ok",
          (err: { code: string }) => err.code,
        ),
      );
      expect(await calls[2]).toBe("OUTPOST_TOO_MANY_REQUESTS");
    } finally {
      await device.close();
      await ts.close();
    }
  });

  it("edge - before authentication a large multipart message closes the connection; after it, the full limits apply", async () => {
    const ts = await startTestServer(pki);
    const capabilities = Array.from({ length: 20 }, (_, i) => `${i}:${"c".repeat(50_000)}`);
    const early = await connectDevice(ts.server.edgeUrl, pki.caPem, pki.devices["dev-1"]);
    const ready = await connectDevice(ts.server.edgeUrl, pki.caPem, pki.devices["dev-2"]);
    try {
      // A valid Hello of about 1 MB, split into 16 KiB frames: legal after Auth, not before.
      early.channel.setPeerLimits({ maxFrameBytes: 16 * 1024 });
      early.channel.send({ hello: { minVersion: 1, maxVersion: PROTOCOL_VERSION, capabilities } });
      const goodbye = await early.goodbye();
      expect(goodbye?.goodbye?.reason).toBe(GoodbyeReason.PROTOCOL_ERROR);

      await ready.hello();
      await ready.auth(ts.keys["dev-2"]!);
      ready.channel.setPeerLimits({ maxFrameBytes: 16 * 1024 });
      const reply = await ready.channel.request({
        propertyUpdate: {
          values: capabilities.map((c, i) => ({ thing: "pump-2", name: `p${i}`, value: toWireValue(c) })),
        },
      });
      // Reassembled and handled (refused per item: the Thing is not bound on this connection).
      expect(reply.response?.status).toBe(200);
      expect(reply.response?.items?.map((i) => i.status)).toEqual(capabilities.map(() => 403));
    } finally {
      await early.close();
      await ready.close();
      await ts.close();
    }
  });
});
