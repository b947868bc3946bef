import { request as httpsRequest } from "node:https";
import { connect } from "node:tls";
import { toWireValue } from "@outpost/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makePki, readyDevice, startTestServer, type TestPki, type TestServer } from "./edge-harness.js";

let pki: TestPki;
let ts: TestServer;

beforeAll(async () => {
  pki = makePki(["dev-1", "dev-2"]);
  ts = await startTestServer(pki);
});

afterAll(async () => {
  await ts?.close();
});

/** Opens /api/events and resolves with every SSE frame received until `until` matches one. */
function collectEvents(token: string, onOpen: () => void, until: (frame: string) => boolean): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const frames: string[] = [];
    const req = httpsRequest(`${ts.server.operatorUrl}/api/events`, {
      ca: pki.caPem,
      headers: { authorization: `Bearer ${token}` },
    });
    req.on("error", reject);
    req.on("response", (res) => {
      let buffer = "";
      res.on("data", (chunk: Buffer) => {
        buffer += chunk.toString("utf8");
        const parts = buffer.split("\n\n");
        buffer = parts.pop() ?? "";
        for (const f of parts) {
          if (f === ": connected") {
            onOpen();
            continue;
          }
          if (!f.startsWith("event:")) continue;
          frames.push(f);
          if (until(f)) {
            req.destroy();
            resolve(frames);
          }
        }
      });
    });
    req.end();
  });
}

describe("operator event stream permissions", () => {
  it("streams property values and events only of Things the operator may read", async () => {
    const { token } = ts.registry.createOperator("carol", false);
    ts.registry.grant({ kind: "operator", id: "carol" }, "pump-1", "service.execute");
    ts.registry.grant({ kind: "operator", id: "carol" }, "pump-2", "property.read");
    const dev1 = await readyDevice(ts, pki, "dev-1", ["pump-1"]);
    const dev2 = await readyDevice(ts, pki, "dev-2", ["pump-2"]);
    const frames = await collectEvents(
      token,
      () => {
        void (async () => {
          await dev1.channel.request({
            propertyUpdate: { values: [{ thing: "pump-1", name: "secret", value: toWireValue(42) }] },
          });
          await dev1.channel.request({ event: { thing: "pump-1", name: "alarm", data: {} } });
          await dev2.channel.request({
            propertyUpdate: { values: [{ thing: "pump-2", name: "speed", value: toWireValue(7) }] },
          });
        })();
      },
      (f) => f.includes('"pump-2"'),
    );
    expect(frames.filter((f) => f.includes('"pump-1"'))).toEqual([]);
    expect(frames).toHaveLength(1);
    await dev1.close();
    await dev2.close();
  });

  it("refuses a stream narrowed to a Thing the operator may not read with 403", async () => {
    const { token } = ts.registry.createOperator("dave", false);
    ts.registry.grant({ kind: "operator", id: "dave" }, "pump-1", "property.write");
    const status = await new Promise<number | undefined>((resolve, reject) => {
      const req = httpsRequest(`${ts.server.operatorUrl}/api/events?thing=pump-1`, {
        ca: pki.caPem,
        headers: { authorization: `Bearer ${token}` },
      });
      req.on("error", reject);
      req.on("response", (res) => {
        res.resume();
        resolve(res.statusCode);
        req.destroy();
      });
      req.end();
    });
    expect(status).toBe(403);
  });

  it("answers a stream narrowed to an unknown Thing with 404, audited, for admins and others alike", async () => {
    const { token } = ts.registry.createOperator("erin", false);
    for (const bearer of [ts.adminToken, token]) {
      const reply = await new Promise<{ status?: number; body: string }>((resolve, reject) => {
        const req = httpsRequest(`${ts.server.operatorUrl}/api/events?thing=no-such-pump`, {
          ca: pki.caPem,
          headers: { authorization: `Bearer ${bearer}` },
        });
        req.on("error", reject);
        req.on("response", (res) => {
          let body = "";
          res.on("data", (c: Buffer) => (body += c.toString("utf8")));
          res.on("end", () => resolve({ status: res.statusCode, body }));
        });
        req.end();
      });
      expect(reply.status).toBe(404);
      expect(JSON.parse(reply.body)).toMatchObject({ error: { code: "OUTPOST_NOT_FOUND" } });
    }
    const denied = ts.audit
      .ofType("denied")
      .filter((r) => r.code === "OUTPOST_NOT_FOUND" && String(r.details?.path) === "/api/events");
    expect(denied.map((r) => r.actor)).toEqual(["operator:alice", "operator:erin"]);
  });

  it("answers a request target that is not a URL with 400, not 500", async () => {
    const { port } = new URL(ts.server.operatorUrl!);
    const head = await new Promise<string>((resolve, reject) => {
      const socket = connect({ host: "127.0.0.1", port: Number(port), ca: pki.caPem }, () => {
        socket.write("GET http://[ HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
      });
      let text = "";
      socket.on("data", (c: Buffer) => (text += c.toString("utf8")));
      socket.on("end", () => resolve(text));
      socket.on("error", reject);
    });
    expect(head.split("\r\n")[0]).toBe("HTTP/1.1 400 Bad Request");
  });
});
