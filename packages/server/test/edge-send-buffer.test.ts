import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectDevice, makePki, startTestServer, type TestPki, type TestServer } from "./edge-harness.js";

let pki: TestPki;
let ts: TestServer;

beforeAll(async () => {
  pki = makePki(["dev-1", "dev-2"]);
  ts = await startTestServer(pki, {
    edge: {
      port: 0,
      certPem: pki.serverCertPem,
      keyPem: pki.serverKeyPem,
      clientCaPem: pki.caPem,
      sendBufferBytes: 1024 * 1024,
    },
  });
});

afterAll(async () => {
  await ts?.close();
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe("edge memory", () => {
  it("a device that sends requests but never reads the answers is disconnected, not buffered without bound", async () => {
    const device = await connectDevice(ts.server.edgeUrl, pki.caPem, pki.devices["dev-1"]);
    await device.hello();
    await device.auth(ts.keys["dev-1"]!);
    const socket = (device.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    socket.pause();
    // Each Bind of 1000 unknown names of 1000 bytes is answered with about 1 MB.
    const requests = 40;
    const names = Array.from({ length: 999 }, (_, i) => `${String(i).padStart(4, "0")}${"x".repeat(996)}`);
    const outcomes: Promise<boolean>[] = [];
    for (let i = 0; i < requests; i++) {
      // Our own send buffer stays small: the server, not this client, must hit its limit.
      for (let j = 0; j < 400 && device.ws.bufferedAmount > 2 * 1024 * 1024; j++) await sleep(5);
      const things = i === requests - 1 ? [...names, "pump-2"] : names;
      outcomes.push(
        device.channel.request({ bind: { things } }, { timeoutMs: 0 }).then(
          () => true,
          () => false,
        ),
      );
    }
    const lastProcessed = (): boolean =>
      ts.audit.records.some((r) => r.type === "denied" && r.actor === "device:dev-1" && r.target === "thing:pump-2");
    const disconnected = async (): Promise<boolean> =>
      !(await ts.server.things.listDevices()).find((d) => d.id === "dev-1")?.connected;
    for (let i = 0; i < 400 && !lastProcessed() && !(await disconnected()); i++) await sleep(25);
    socket.resume();
    const answered = (await Promise.all(outcomes)).filter(Boolean).length;
    expect(answered).toBeLessThan(requests);
    expect(await disconnected()).toBe(true);
    const logout = ts.audit.records.findLast((r) => r.type === "logout" && r.actor === "device:dev-1");
    expect(logout?.code).toBe("OUTPOST_LIMIT_EXCEEDED");
  }, 30_000);
});
