import { readFileSync } from "node:fs";
import { join } from "node:path";
import { toWireValue } from "@outpost/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FaultProxy } from "../../../test/helpers/fault-proxy.js";
import {
  makePki,
  readyDevice,
  startTestServer,
  type TestDevice,
  type TestPki,
  type TestServer,
} from "../../server/test/edge-harness.js";
import { OperatorClient, type StreamItem } from "../src/index.js";

let pki: TestPki;
let ts: TestServer;
let device: TestDevice;

beforeAll(async () => {
  pki = makePki(["dev-1", "dev-2"]);
  ts = await startTestServer(pki);
  device = await readyDevice(ts, pki, "dev-1", ["pump-1"]);
});

afterAll(async () => {
  await device?.close();
  await ts?.close();
});

const client = (token = ts.adminToken, url = ts.server.operatorUrl!) =>
  new OperatorClient({ url, token, ca: pki.caPem });

async function report(value: number): Promise<void> {
  await device.channel.request({
    propertyUpdate: { values: [{ thing: "pump-1", name: "level", value: toWireValue(value) }] },
  });
}

describe("operator client", () => {
  it("client - has one method per operation of docs/openapi.json", () => {
    const doc = JSON.parse(readFileSync(join(import.meta.dirname, "..", "..", "..", "docs", "openapi.json"), "utf8"));
    const ids = Object.values(doc.paths as Record<string, Record<string, { operationId: string }>>).flatMap((p) =>
      Object.values(p).map((o) => o.operationId),
    );
    const methods = Object.getOwnPropertyNames(OperatorClient.prototype).filter((m) => m !== "constructor");
    const aliases: Record<string, string> = {
      streamEvents: "events",
      uploadRepositoryFile: "uploadFile",
      downloadRepositoryFile: "downloadFile",
    };
    expect(ids.map((id) => aliases[id] ?? id).sort()).toEqual(methods.filter((m) => m !== "url").sort());
  });

  it("client - typed answers, and typed errors with the server's stable codes", async () => {
    expect(await client().health()).toEqual({ status: "ok", audit: { state: "ok" } });
    expect(await client().whoami()).toMatchObject({ operator: "alice", admin: true });
    const { things } = await client().listThings();
    expect(things.map((t) => t.name).sort()).toEqual(["pump-1", "pump-2"]);
    await expect(client().readProperties("nope")).rejects.toMatchObject({
      name: "RemoteError",
      code: "OUTPOST_NOT_FOUND",
      status: 404,
    });
    await expect(client(ts.viewerToken).listDevices()).rejects.toMatchObject({ code: "OUTPOST_FORBIDDEN" });
    const explained = await client().explainAccess({
      principal: "user:alice",
      thing: "pump-1",
      permission: "property.read",
    });
    expect(explained.allowed).toBe(true);
    expect(explained.groups).toContain("Administrators");
    await expect(client(ts.viewerToken).getAccessModel()).rejects.toMatchObject({ code: "OUTPOST_FORBIDDEN" });
    await expect(client("opt_bad").listThings()).rejects.toMatchObject({ code: "OUTPOST_UNAUTHORIZED" });
    expect(() => new OperatorClient({ url: "http://x" })).toThrow(/https/);
  });

  it("client - every call takes an AbortSignal", async () => {
    const abort = new AbortController();
    // dev-1 never answers service calls here, so the call would wait for the server's timeout.
    const pending = client().invokeService("pump-1", "slow", {}, { signal: abort.signal });
    setTimeout(() => abort.abort(), 50);
    await expect(pending).rejects.toMatchObject({ code: "OUTPOST_ABORTED" });
    await expect(client().listThings({ signal: AbortSignal.abort() })).rejects.toMatchObject({
      code: "OUTPOST_ABORTED",
    });
  });

  it("client - the event stream reconnects with Last-Event-ID: nothing lost, nothing repeated", async () => {
    const port = Number(new URL(ts.server.operatorUrl!).port);
    const proxy = await FaultProxy.start(port);
    const abort = new AbortController();
    const seen: StreamItem[] = [];
    const iterator = client(ts.adminToken, `https://127.0.0.1:${proxy.port}`).events({
      thing: "pump-1",
      signal: abort.signal,
      retryDelayMs: 20,
      reportReconnects: true,
    });
    const next = async (): Promise<StreamItem> => {
      const r = await iterator.next();
      if (r.done) throw new Error("stream ended");
      seen.push(r.value);
      return r.value;
    };
    try {
      // The first value is reported once the stream is surely open: retry until it arrives.
      const first = next();
      for (let i = 0; i < 100 && seen.length === 0; i++) {
        await report(1);
        await Promise.race([first, new Promise((r) => setTimeout(r, 50))]);
      }
      await first;
      const drained = seen.length;
      await report(2);
      await next();
      proxy.cutAll();
      await report(3);
      await report(4);
      const values: number[] = [];
      while (values.length < 2) {
        const item = await next();
        if (item.type === "property") values.push(item.value as number);
      }
      await report(5);
      const last = await next();
      expect(drained).toBe(1);
      expect(values).toEqual([3, 4]);
      expect(last).toMatchObject({ type: "property", value: 5 });
      expect(seen.some((s) => s.type === "reconnecting")).toBe(true);
      const ids = seen.filter((s) => s.type === "property").map((s) => (s as { id: string }).id);
      expect(new Set(ids).size).toBe(ids.length);
    } finally {
      abort.abort();
      await iterator.return(undefined);
      await proxy.close();
    }
  });
});
