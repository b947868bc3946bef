import { ErrorCode, OutpostError } from "@outpost/protocol";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { EdgeClient } from "../src/client.js";
import { clientFor } from "./helpers/client.js";
import { FakeServer } from "./helpers/fake-server.js";

let client: EdgeClient | undefined;
afterEach(async () => {
  vi.restoreAllMocks();
  await client?.close({ flush: false });
  client = undefined;
});

function invoke(server: FakeServer, service: string): Promise<unknown> {
  return server.last.channel
    .request({ serviceInvoke: { thing: "pump", service, params: {}, timeoutMs: 1000 } })
    .catch((err: unknown) => err);
}

describe("EdgeClient - failures the device can see", () => {
  it("service - a handler that throws is an error event and a warning on the default logger", async () => {
    const stderr = vi.spyOn(console, "error").mockImplementation(() => {});
    const server = new FakeServer();
    client = clientFor(server);
    const errors: OutpostError[] = [];
    client.on("error", (err) => errors.push(err));
    const bug = new TypeError("cannot read properties of undefined");
    client.thing("pump").service("reset", () => {
      throw bug;
    });
    await client.connect();

    expect(await invoke(server, "reset")).toMatchObject({ code: ErrorCode.Internal });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(OutpostError);
    expect(errors[0]!.code).toBe(ErrorCode.Internal);
    expect(errors[0]!.message).toContain("pump.reset");
    expect(errors[0]!.cause).toBe(bug);
    const lines = stderr.mock.calls.map((c) => String(c[0]));
    expect(lines.some((l) => l.startsWith("outpost-sdk warn: service handler failed") && l.includes("reset"))).toBe(
      true,
    );
  });

  it("service - a handler's own OutpostError is its answer, not a failure", async () => {
    const stderr = vi.spyOn(console, "error").mockImplementation(() => {});
    const server = new FakeServer();
    client = clientFor(server);
    const errors: OutpostError[] = [];
    client.on("error", (err) => errors.push(err));
    client.thing("pump").service("busy", () => {
      throw new OutpostError(ErrorCode.TooManyRequests, "try later", { status: 429 });
    });
    await client.connect();
    expect(await invoke(server, "busy")).toMatchObject({ code: ErrorCode.TooManyRequests });
    expect(errors).toEqual([]);
    expect(stderr).not.toHaveBeenCalled();
  });

  it("service - a logger given in the options replaces the default one", async () => {
    const stderr = vi.spyOn(console, "error").mockImplementation(() => {});
    const warnings: string[] = [];
    const server = new FakeServer();
    client = clientFor(server, {
      logger: { debug() {}, info() {}, error() {}, warn: (m: string) => void warnings.push(m) },
    });
    client.thing("pump").service("reset", () => {
      throw new Error("boom");
    });
    await client.connect();
    await invoke(server, "reset");
    expect(warnings).toContain("service handler failed");
    expect(stderr).not.toHaveBeenCalled();
  });

  it("property - re-declaring with other options is a typed error; the same or no options return it", async () => {
    const server = new FakeServer();
    client = clientFor(server);
    const t = client.thing("hvac");
    const onWrite = (): void => {};
    t.property("setpoint", { type: "number", writable: true, onWrite, initial: 20 });
    expect(() => t.property("setpoint")).not.toThrow();
    expect(() => t.property("setpoint", { type: "number", writable: true, onWrite, initial: 20 })).not.toThrow();
    expect(() => t.property("setpoint", { writable: true })).not.toThrow();
    const refused = (options: Parameters<typeof t.property>[1]): string => {
      try {
        t.property("setpoint", options);
        return "accepted";
      } catch (err) {
        expect(err).toBeInstanceOf(OutpostError);
        return `${(err as OutpostError).code} ${(err as OutpostError).message}`;
      }
    };
    expect(refused({ type: "string" })).toBe(
      "OUTPOST_INVALID_CONFIG property hvac.setpoint is already declared with another type",
    );
    expect(refused({ writable: false })).toContain("another writable");
    expect(refused({ push: "always" })).toContain("another push");
    expect(refused({ deadband: 0.5 })).toContain("another deadband");
    expect(refused({ onWrite: () => {} })).toContain("another onWrite");
    expect(refused({ initial: 21 })).toContain("another initial");
    t.set("setpoint", 22);
    expect(t.get("setpoint")).toBe(22);
  });
});
