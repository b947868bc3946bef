import * as pkg from "@outpost/protocol";
import { describe, expect, it } from "vitest";

// Runs against the built package (dist), as a dependent package sees it.
describe("dist", () => {
  it("dist - the built entry point exports the public API", () => {
    for (const name of [
      "Channel",
      "createMemoryTransportPair",
      "decodeFrame",
      "encodeFrame",
      "encodeLengthPrefixed",
      "StreamFrameDecoder",
      "StreamIdAllocator",
      "SendWindow",
      "ReceiveWindow",
      "MultipartAssembler",
      "splitMessage",
      "errorFromStatus",
      "statusFromError",
      "statusForCode",
      "ErrorCode",
      "DEFAULT_LIMITS",
    ]) {
      expect(pkg, name).toHaveProperty(name);
    }
  });

  it("dist - a channel pair from the built package answers a request", async () => {
    const [ta, tb] = pkg.createMemoryTransportPair();
    const a = new pkg.Channel(ta);
    const b = new pkg.Channel(tb);
    const reply = a.request({ propertyRead: { thing: "t" } });
    for await (const m of b.messages) {
      b.respond(m.requestId, { status: 204 });
      break;
    }
    expect((await reply).response?.status).toBe(204);
    await a.close();
  });
});
