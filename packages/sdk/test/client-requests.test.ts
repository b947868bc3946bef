import { ErrorCode, OutpostError, toWireValue } from "@outpost/protocol";
import { afterEach, describe, expect, it } from "vitest";
import type { EdgeClient } from "../src/client.js";
import { clientFor } from "./helpers/client.js";
import { FakeServer } from "./helpers/fake-server.js";

let client: EdgeClient | undefined;
afterEach(async () => {
  await client?.close({ flush: false });
  client = undefined;
});

async function connected(): Promise<{ server: FakeServer; client: EdgeClient }> {
  const server = new FakeServer();
  client = clientFor(server);
  await client.connect();
  return { server, client };
}

describe("EdgeClient requests", () => {
  it("read - returns current values of all set properties, or the named ones", async () => {
    const server = new FakeServer();
    client = clientFor(server);
    const t = client.thing("pump");
    t.set("rpm", 1500);
    t.property("label", { initial: "P-1", push: "never" });
    t.property("unset");
    await client.connect();
    const all = await server.last.channel.request({ propertyRead: { thing: "pump", names: [] } });
    expect(all.response?.values?.map((v) => [v.name, v.value?.intValue ?? v.value?.stringValue])).toEqual([
      ["rpm", 1500],
      ["label", "P-1"],
    ]);
    const some = await server.last.channel.request({ propertyRead: { thing: "pump", names: ["label", "nope"] } });
    expect(some.response?.values?.map((v) => v.name)).toEqual(["label"]);
    expect(some.response?.items?.map((i) => [i.key, i.status])).toEqual([["nope", 404]]);
  });

  it("read - an unknown Thing is answered with 404", async () => {
    const { server } = await connected();
    await expect(server.last.channel.request({ propertyRead: { thing: "ghost", names: [] } })).rejects.toMatchObject({
      code: "OUTPOST_NOT_FOUND",
    });
  });

  it("write - checks writability and type, calls onWrite, answers per item", async () => {
    const server = new FakeServer();
    client = clientFor(server);
    const t = client.thing("hvac");
    const written: unknown[] = [];
    t.property("setpoint", { type: "number", writable: true, onWrite: (v) => void written.push(v) });
    t.property("serial", { type: "string", initial: "X" });
    t.property("limit", {
      type: "number",
      writable: true,
      onWrite: () => {
        throw new OutpostError(ErrorCode.Conflict, "limit locked", { status: 409 });
      },
    });
    await client.connect();
    const reply = await server.last.channel.request({
      propertyWrite: {
        values: [
          { thing: "hvac", name: "setpoint", value: toWireValue(21.5) },
          { thing: "hvac", name: "setpoint", value: toWireValue("hot") },
          { thing: "hvac", name: "serial", value: toWireValue("Y") },
          { thing: "hvac", name: "limit", value: toWireValue(3) },
          { thing: "hvac", name: "missing", value: toWireValue(1) },
        ],
      },
    });
    expect(reply.response?.items?.map((i) => i.status)).toEqual([200, 400, 403, 409, 404]);
    expect(written).toEqual([21.5]);
    expect(t.get("setpoint")).toBe(21.5);
    expect(t.get("serial")).toBe("X");
    expect(t.get("limit")).toBeUndefined();
    expect(client.queueSize).toBe(0);
  });

  it("invoke - server calls a device service and gets its result", async () => {
    const server = new FakeServer();
    client = clientFor(server);
    client.thing("pump").service("add", (p) => (p.a as number) + (p.b as number));
    await client.connect();
    const reply = await server.last.channel.request({
      serviceInvoke: {
        thing: "pump",
        service: "add",
        params: { a: toWireValue(2), b: toWireValue(3) },
        timeoutMs: 1000,
      },
    });
    expect(reply.response?.result?.intValue).toBe(5);
  });

  it("invoke - unknown service is 404, a handler's OutpostError keeps its status, other errors are 500", async () => {
    const server = new FakeServer();
    client = clientFor(server);
    const t = client.thing("pump");
    t.service("busy", () => {
      throw new OutpostError(ErrorCode.TooManyRequests, "try later", { status: 429 });
    });
    t.service("broken", async () => {
      throw new Error("secret detail");
    });
    await client.connect();
    const call = (service: string) =>
      server.last.channel.request({ serviceInvoke: { thing: "pump", service, params: {} } });
    await expect(call("nope")).rejects.toMatchObject({ code: "OUTPOST_NOT_FOUND" });
    await expect(call("busy")).rejects.toMatchObject({ code: "OUTPOST_TOO_MANY_REQUESTS", status: 429 });
    const err = await call("broken").catch((e: Error) => e);
    expect(err).toMatchObject({ code: "OUTPOST_INTERNAL", status: 500 });
    expect((err as Error).message).not.toContain("secret detail");
  });

  it("invoke - the handler's signal aborts when the caller's deadline passes", async () => {
    const server = new FakeServer();
    client = clientFor(server);
    let aborted: Promise<boolean> | undefined;
    client.thing("pump").service("slow", (_p, ctx) => {
      aborted = new Promise((resolve) => ctx.signal.addEventListener("abort", () => resolve(true)));
      return aborted.then(() => null);
    });
    await client.connect();
    await server.last.channel
      .request({ serviceInvoke: { thing: "pump", service: "slow", params: {}, timeoutMs: 20 } }, { timeoutMs: 50 })
      .catch(() => undefined);
    expect(await aborted).toBe(true);
  });

  it("invoke - device calls a server service and gets its result", async () => {
    const { server, client: c } = await connected();
    server.services.echo = (p) => ({ got: p.x as number });
    await expect(c.invoke("pump", "echo", { x: 4 })).resolves.toEqual({ got: 4 });
    await expect(c.invoke("pump", "nothing")).rejects.toMatchObject({ code: "OUTPOST_NOT_FOUND" });
  });

  it("invoke - device call honours AbortSignal and needs a connection", async () => {
    const server = new FakeServer();
    client = clientFor(server);
    await expect(client.invoke("pump", "x")).rejects.toMatchObject({ code: "OUTPOST_UNAVAILABLE" });
    await client.connect();
    server.services.hang = () => null;
    server.onUpdate = undefined;
    const ac = new AbortController();
    ac.abort();
    await expect(client.invoke("pump", "hang", {}, { signal: ac.signal })).rejects.toMatchObject({
      code: "OUTPOST_ABORTED",
    });
  });
});
