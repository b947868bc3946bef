import { GoodbyeReason } from "@outpost/protocol";
import { beforeAll, describe, expect, it } from "vitest";
import { connectDevice, makePki, startTestServer, type TestPki } from "./edge-harness.js";

let pki: TestPki;

beforeAll(() => {
  pki = makePki(["dev-1", "dev-2"]);
});

describe("edge shutdown", () => {
  it("close() finishes even when a device connects and authenticates while the server is closing", async () => {
    const local = await startTestServer(pki);
    const slow = await connectDevice(local.server.edgeUrl, pki.caPem, pki.devices["dev-1"]);
    await slow.hello();
    await slow.auth(local.keys["dev-1"]!);
    // The first device stops reading, so its closing handshake takes until the close timeout.
    (slow.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const closing = local.server.close();
    let late: Awaited<ReturnType<typeof connectDevice>> | undefined;
    try {
      late = await connectDevice(local.server.edgeUrl, pki.caPem, pki.devices["dev-2"]);
      await late.hello();
      await late.auth(local.keys["dev-2"]!);
    } catch {
      // refused because the server is closing: what we want
    }
    await closing;
    local.registry.close();
    if (late) {
      const bye = await late.goodbye();
      expect(bye === undefined || bye.goodbye?.reason === GoodbyeReason.SHUTDOWN).toBe(true);
    }
  }, 15_000);
});
