import { describe, expect, it } from "vitest";
import { EdgeClient } from "../src/client.js";
import { FakeServer } from "./helpers/fake-server.js";

describe("EdgeClient option checks", () => {
  it.each([
    ["connectTimeoutMs", 2 ** 32],
    ["connectTimeoutMs", Number.NaN],
    ["connectTimeoutMs", 0],
    ["requestTimeoutMs", -1],
    ["requestTimeoutMs", Number.NaN],
    ["pingIntervalMs", Number.POSITIVE_INFINITY],
    ["flushIntervalMs", 2 ** 31],
  ])("options - %s = %s is refused with OUTPOST_INVALID_CONFIG", (name, value) => {
    const server = new FakeServer();
    expect(
      () => new EdgeClient({ url: "wss://x.test", appKey: "opk_a_b", transportFactory: server.factory, [name]: value }),
    ).toThrow(expect.objectContaining({ code: "OUTPOST_INVALID_CONFIG" }));
  });
});
