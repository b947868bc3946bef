import { CAPABILITY_STREAMS, PROTOCOL_VERSION, type Stream, StreamResetCode } from "@outpost/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectDevice, makePki, startTestServer, type TestPki, type TestServer } from "./edge-harness.js";

let pki: TestPki;
let ts: TestServer;
const accepted: { stream: Stream; deviceId: string }[] = [];

beforeAll(async () => {
  pki = makePki(["dev-1", "dev-2"]);
  ts = await startTestServer(pki, {
    edge: {
      port: 0,
      certPem: pki.serverCertPem,
      keyPem: pki.serverKeyPem,
      clientCaPem: pki.caPem,
      onStream: (stream, device) => {
        accepted.push({ stream, deviceId: device.deviceId });
        if (stream.type !== "echo") {
          stream.reset(StreamResetCode.Refused, `no ${stream.type} here`);
          return;
        }
        stream.onData(
          (chunk) => stream.write(chunk),
          () => void stream.end().catch(() => undefined),
        );
      },
    },
  });
});

afterAll(async () => {
  await ts?.close();
});

async function hello(capabilities: string[]) {
  const device = await connectDevice(ts.server.edgeUrl, pki.caPem, pki.devices["dev-1"]);
  const ack = await device.channel.request({
    hello: { minVersion: 1, maxVersion: PROTOCOL_VERSION, agent: "edge-test", capabilities },
  });
  device.channel.setPeerLimits(ack.helloAck!.limits);
  return { device, ack };
}

describe("edge streams", () => {
  it("edge - a device that announces streams gets them after auth: echo, fin both ways, refusal by type", async () => {
    const { device, ack } = await hello([CAPABILITY_STREAMS]);
    expect(ack.helloAck?.capabilities).toContain(CAPABILITY_STREAMS);
    await device.auth(ts.keys["dev-1"]!);
    device.channel.enableStreams({ side: "device" });
    const s = device.channel.openStream({ type: "echo" });
    await s.write(new TextEncoder().encode("hello "));
    await s.write(new TextEncoder().encode("streams"));
    await s.end();
    const parts: Uint8Array[] = [];
    for await (const c of s) parts.push(c);
    expect(Buffer.concat(parts).toString()).toBe("hello streams");
    await expect(s.closed()).resolves.toBeUndefined();
    expect(accepted.at(-1)?.deviceId).toBe("dev-1");
    const other = device.channel.openStream({ type: "file" });
    await expect(other.closed()).resolves.toMatchObject({ resetCode: StreamResetCode.Refused, remote: true });
    await device.close();
  });

  it("edge - a device without the capability (1.0) is not offered streams, and a stream frame from it closes only its connection", async () => {
    const { device, ack } = await hello([]);
    expect(ack.helloAck?.capabilities ?? []).not.toContain(CAPABILITY_STREAMS);
    await device.auth(ts.keys["dev-1"]!);
    // The device breaks the rule: it sends a StreamOpen although the server did not offer streams.
    device.channel.enableStreams({ side: "device" });
    device.channel.openStream({ type: "echo" });
    const goodbye = await device.goodbye();
    expect(goodbye?.goodbye?.message ?? "").toMatch(/stream/i);
    expect(goodbye?.goodbye?.reason).toBe(4);
    const again = await hello([CAPABILITY_STREAMS]);
    await expect(again.device.auth(ts.keys["dev-1"]!)).resolves.toBeDefined();
    await again.device.close();
  });
});
