import { readFileSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { join } from "node:path";
import { Writable } from "node:stream";
import { toWireValue } from "@outpost/protocol";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openApiDocument } from "../src/operator-api/openapi.js";
import {
  makePki,
  type OperatorReply,
  operatorRequest,
  readyDevice,
  startTestServer,
  type TestPki,
  type TestServer,
} from "./edge-harness.js";

let pki: TestPki;
let ts: TestServer;
const logLines: string[] = [];

beforeAll(async () => {
  pki = makePki(["dev-1", "dev-2"]);
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logLines.push(chunk.toString("utf8"));
      done();
    },
  });
  ts = await startTestServer(pki, {
    logger: pino({ level: "info" }, sink),
    operatorExtra: { revalidateIntervalMs: 50, replay: { maxEvents: 5 } },
  });
});

afterAll(async () => {
  await ts?.close();
});

function api(method: string, path: string, options: { token?: string; body?: string } = {}): Promise<OperatorReply> {
  return operatorRequest(ts, pki, method, path, options);
}

interface Sse {
  frames: Array<{ event: string; id?: string; data: any }>;
  ended: Promise<void>;
  waitFor(n: number): Promise<void>;
  close(): void;
}

/** Opens /api/events; resolves once the stream is connected. */
function openSse(token: string, lastEventId?: string): Promise<Sse> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    if (lastEventId) headers["last-event-id"] = lastEventId;
    const req = httpsRequest(`${ts.server.operatorUrl}/api/events`, { ca: pki.caPem, headers });
    req.on("error", () => {});
    req.on("response", (res) => {
      if (res.statusCode !== 200) return reject(new Error(`status ${res.statusCode}`));
      const frames: Sse["frames"] = [];
      const waiters: Array<() => void> = [];
      let buffer = "";
      const ended = new Promise<void>((r) => res.on("close", () => r()));
      res.on("data", (chunk: Buffer) => {
        buffer += chunk.toString("utf8");
        const parts = buffer.split("\n\n");
        buffer = parts.pop() ?? "";
        for (const part of parts) {
          if (part === ": connected") resolve(sse);
          const fields = Object.fromEntries(
            part
              .split("\n")
              .filter((l) => !l.startsWith(":"))
              .map((l) => [l.slice(0, l.indexOf(":")), l.slice(l.indexOf(":") + 2)]),
          );
          if (fields.event) frames.push({ event: fields.event, id: fields.id, data: JSON.parse(fields.data) });
        }
        for (const w of waiters.splice(0)) w();
      });
      const sse: Sse = {
        frames,
        ended,
        async waitFor(n) {
          for (let i = 0; i < 500 && frames.length < n; i++) await new Promise<void>((r) => waiters.push(r));
        },
        close: () => req.destroy(),
      };
    });
    req.end();
  });
}

async function report(device: Awaited<ReturnType<typeof readyDevice>>, values: number[]): Promise<void> {
  for (const v of values) {
    await device.channel.request({
      propertyUpdate: { values: [{ thing: "pump-1", name: "level", value: toWireValue(v) }] },
    });
  }
}

describe("operator API hardening", () => {
  it("operator API - a bad parameter or body is 400 with the field named", async () => {
    const token = ts.adminToken;
    const noValue = await api("PUT", "/api/things/pump-1/properties/x", { token, body: "{}" });
    expect(noValue.status).toBe(400);
    expect(noValue.json.error).toMatchObject({ code: "OUTPOST_BAD_REQUEST", field: "body/value" });
    const badTimeout = await api("POST", "/api/things/pump-1/services/add?timeoutMs=0", { token, body: "{}" });
    expect(badTimeout.status).toBe(400);
    expect(badTimeout.json.error).toMatchObject({ code: "OUTPOST_BAD_REQUEST", field: "querystring/timeoutMs" });
    const notObject = await api("POST", "/api/things/pump-1/services/add", { token, body: "[1]" });
    expect(notObject.json.error).toMatchObject({ field: "body" });
  });

  it("operator API - deeply nested JSON is refused with 400 and a depth limit, not 500", async () => {
    const token = ts.adminToken;
    const open = await api("PUT", "/api/things/pump-1/properties/x", { token, body: "[".repeat(1_000_000) });
    expect(open.status).toBe(400);
    expect(open.json.error).toMatchObject({ code: "OUTPOST_BAD_REQUEST" });
    expect(open.json.error.message).toMatch(/nests deeper than 32 levels/);
    const deep = `{"value": ${"[".repeat(100_000)}${"]".repeat(100_000)}}`;
    expect((await api("POST", "/api/things/pump-1/services/add", { token, body: deep })).status).toBe(400);
    const ok = `{"value": ${"[".repeat(20)}${"]".repeat(20)}}`;
    expect((await api("PUT", "/api/things/nope/properties/x", { token, body: ok })).status).toBe(404);
  });

  it("operator API - every 500 is logged with its cause and answered with a generic message", async () => {
    const original = ts.server.things.listThings;
    ts.server.things.listThings = () => {
      throw new Error("registry exploded");
    };
    try {
      const r = await api("GET", "/api/things", { token: ts.adminToken });
      expect(r).toEqual({ status: 500, json: { error: { code: "OUTPOST_INTERNAL", message: "internal error" } } });
    } finally {
      ts.server.things.listThings = original;
    }
    const line = logLines.find((l) => l.includes("operator API request failed"));
    expect(line).toBeDefined();
    expect(line).toContain("registry exploded");
  });

  it("operator API - every refusal is audited once with its source address", async () => {
    const before = ts.audit.records.length;
    expect((await api("GET", "/api/devices", { token: ts.viewerToken })).status).toBe(403);
    expect((await api("GET", "/api/things/pump-1/properties", { token: ts.viewerToken })).status).toBe(403);
    expect((await api("PUT", "/api/things/pump-1/properties/x", { token: ts.adminToken, body: "{}" })).status).toBe(
      400,
    );
    expect((await api("GET", "/api/nothing")).status).toBe(404);
    const refusedStream = await new Promise<number>((resolve, reject) => {
      const req = httpsRequest(`${ts.server.operatorUrl}/api/events?thing=pump-1`, {
        ca: pki.caPem,
        headers: { authorization: `Bearer ${ts.viewerToken}` },
      });
      req.on("error", reject);
      req.on("response", (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.end();
    });
    expect(refusedStream).toBe(403);
    const added = ts.audit.records.slice(before);
    expect(added).toHaveLength(5);
    for (const r of added) {
      expect(r.type).toBe("denied");
      expect(r.source).toMatch(/127\.0\.0\.1/);
    }
    expect(added.map((r) => r.code)).toEqual([
      "OUTPOST_FORBIDDEN",
      "OUTPOST_FORBIDDEN",
      "OUTPOST_BAD_REQUEST",
      "OUTPOST_NOT_FOUND",
      "OUTPOST_FORBIDDEN",
    ]);
  });

  it("operator API - revoking an operator token ends its open event streams", async () => {
    const { token, tokenId } = ts.registry.createOperatorToken("alice");
    const sse = await openSse(token);
    const other = await openSse(ts.adminToken);
    expect(ts.registry.revokeOperatorToken(tokenId)).toBe(true);
    await sse.ended;
    const record = ts.audit.records.find((r) => r.details?.action === "events.stream" && r.details.tokenId === tokenId);
    expect(record).toMatchObject({ type: "denied", actor: "operator:alice", code: "OUTPOST_UNAUTHORIZED" });
    expect(record?.source).toMatch(/127\.0\.0\.1/);
    let otherEnded = false;
    void other.ended.then(() => (otherEnded = true));
    await new Promise((r) => setTimeout(r, 200));
    expect(otherEnded).toBe(false);
    other.close();
  });

  it("operator API - a stream resumed with Last-Event-ID gets exactly the changes it missed", async () => {
    const device = await readyDevice(ts, pki, "dev-1", ["pump-1"]);
    const first = await openSse(ts.adminToken);
    await report(device, [1, 2]);
    await first.waitFor(2);
    first.close();
    await report(device, [3, 4]);
    const resumed = await openSse(ts.adminToken, first.frames[1]!.id);
    await report(device, [5]);
    await resumed.waitFor(3);
    expect(first.frames.map((f) => f.data.value)).toEqual([1, 2]);
    expect(resumed.frames.map((f) => f.data.value)).toEqual([3, 4, 5]);
    resumed.close();

    // Beyond the replay bound (5 changes here) the stream says that changes were lost.
    await report(device, [6, 7, 8, 9, 10, 11, 12]);
    const late = await openSse(ts.adminToken, resumed.frames[2]!.id);
    await late.waitFor(6);
    expect(late.frames[0]!.event).toBe("gap");
    expect(late.frames.slice(1).map((f) => f.data.value)).toEqual([8, 9, 10, 11, 12]);
    late.close();

    // An id from before a restart (another instance) replays everything kept since.
    const foreign = await openSse(ts.adminToken, "00000000-3");
    await foreign.waitFor(6);
    expect(foreign.frames[0]!.event).toBe("gap");
    foreign.close();
    await device.close();
  });

  it("operator API - serves the OpenAPI 3.1 document, identical to docs/openapi.json", async () => {
    const served = await api("GET", "/api/openapi.json");
    expect(served.status).toBe(200);
    expect(served.json.openapi).toBe("3.1.0");
    const committed = JSON.parse(
      readFileSync(join(import.meta.dirname, "..", "..", "..", "docs", "openapi.json"), "utf8"),
    );
    expect(served.json).toEqual(committed);
    expect(await openApiDocument()).toEqual(committed);
    const ops = Object.values(served.json.paths as Record<string, Record<string, { operationId: string }>>).flatMap(
      (p) => Object.values(p).map((o) => o.operationId),
    );
    expect(ops.sort()).toEqual(
      [
        "clearDesired",
        "health",
        "invokeService",
        "listDevices",
        "listThings",
        "readProperties",
        "streamEvents",
        "whoami",
        "writeProperty",
        "listTunnels",
        "login",
        "logout",
        "closeTunnel",
        "openTunnel",
        "cancelTransfer",
        "downloadRepositoryFile",
        "getTransfer",
        "listDeviceFiles",
        "listRepository",
        "listTransfers",
        "startTransfer",
        "uploadRepositoryFile",
        "getAccessModel",
        "explainAccess",
        "addAccessEntry",
        "removeAccessEntry",
        "addGroup",
        "removeGroup",
        "addGroupMember",
        "removeGroupMember",
        "addOrganization",
        "removeOrganization",
        "addUnit",
        "removeUnit",
        "addUnitMember",
        "removeUnitMember",
        "grantVisibility",
        "revokeVisibility",
        "listTemplates",
        "getTemplate",
        "createTemplate",
        "updateTemplate",
        "deleteTemplate",
        "createThing",
        "getThing",
        "updateThing",
        "deleteThing",
      ].sort(),
    );
  });
});
