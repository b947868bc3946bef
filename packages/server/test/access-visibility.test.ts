import { request as httpsRequest } from "node:https";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AccessModelError } from "../src/access/model.js";
import { makePki, readyDevice, startTestServer, type TestPki, type TestServer } from "./edge-harness.js";

let pki: TestPki;
let ts: TestServer;
let ursula: string;

/** One raw HTTPS exchange: status, content type and body bytes. */
function raw(method: string, path: string, token: string, body?: string) {
  return new Promise<{ status: number; type: string; body: string }>((resolve, reject) => {
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    if (body !== undefined) headers["content-type"] = "application/json";
    const req = httpsRequest(`${ts.server.operatorUrl}${path}`, { method, headers, ca: pki.caPem }, (res) => {
      if (String(res.headers["content-type"]).startsWith("text/event-stream")) {
        // An open event stream: its status is the answer.
        req.destroy();
        resolve({ status: res.statusCode ?? 0, type: String(res.headers["content-type"]), body: "" });
        return;
      }
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          type: String(res.headers["content-type"]),
          body: Buffer.concat(chunks).toString("utf8"),
        }),
      );
    });
    req.on("error", reject);
    req.end(body);
  });
}

beforeAll(async () => {
  pki = makePki(["dev-1", "dev-2"]);
  ts = await startTestServer(pki);
  ursula = ts.registry.createOperator("ursula", false).token;
  const access = ts.registry.access;
  // Every run-time permission on every Thing: only visibility can hide pump-2 from ursula.
  for (const p of ["property.read", "property.write", "service.execute", "event.subscribe"] as const) {
    access.addEntry("allow", { kind: "group", name: "Operators" }, p, { level: "collection", collection: "things" });
  }
  access.createOrganization("acme");
  access.createUnit("acme", "line");
  access.addUnitMember("acme", "line", { kind: "user", name: "ursula" });
  access.grantVisibility("acme", "line", "thing", "pump-1");
});

afterAll(async () => {
  await ts?.close();
});

// Each direct access, with the Thing's name in its path or query.
const ACCESSES: { what: string; method: string; path: (t: string) => string; body?: string }[] = [
  { what: "read", method: "GET", path: (t) => `/api/things/${t}/properties` },
  { what: "read one property", method: "GET", path: (t) => `/api/things/${t}/properties?name=speed` },
  { what: "write", method: "PUT", path: (t) => `/api/things/${t}/properties/speed`, body: '{"value": 3}' },
  { what: "clear desired", method: "DELETE", path: (t) => `/api/things/${t}/properties/speed/desired` },
  { what: "invoke", method: "POST", path: (t) => `/api/things/${t}/services/reset`, body: "{}" },
  { what: "subscribe", method: "GET", path: (t) => `/api/events?thing=${t}` },
];

describe("access visibility over HTTPS", () => {
  it("access - an invisible Thing is absent from the list; visible ones are listed", async () => {
    const r = await raw("GET", "/api/things", ursula);
    expect(r.status).toBe(200);
    expect((JSON.parse(r.body) as { things: { name: string }[] }).things.map((t) => t.name)).toEqual(["pump-1"]);
    const admin = await raw("GET", "/api/things", ts.adminToken);
    expect((JSON.parse(admin.body) as { things: { name: string }[] }).things.map((t) => t.name)).toEqual([
      "pump-1",
      "pump-2",
    ]);
  });

  for (const a of ACCESSES) {
    it(`access - ${a.what}: an invisible Thing answers byte for byte like a nonexistent one`, async () => {
      const invisible = await raw(a.method, a.path("pump-2"), ursula, a.body);
      const missing = await raw(a.method, a.path("pump-9"), ursula, a.body);
      expect(invisible.status).toBe(404);
      expect(invisible.status).toBe(missing.status);
      expect(invisible.type).toBe(missing.type);
      // The only difference is the name the caller asked for.
      expect(invisible.body.replaceAll("pump-2", "NAME")).toBe(missing.body.replaceAll("pump-9", "NAME"));
      // The same caller reaches the visible Thing past the visibility check (not 404).
      const visible = await raw(a.method, a.path("pump-1"), ursula, a.body);
      expect(visible.status).not.toBe(404);
    });
  }

  it("access - a device with only its own run-time permissions cannot bind other Things, change entities, nor become an administrator", async () => {
    const dev = await readyDevice(ts, pki, "dev-1", []);
    const bound = await dev.bind(["pump-1", "pump-2", "pump-9"]);
    const items = bound.response?.items ?? [];
    expect(items.map((i) => [i.key, i.status])).toEqual([
      ["pump-1", 200],
      ["pump-2", 404],
      ["pump-9", 404],
    ]);
    // Another device's Thing it cannot see is answered exactly like an unknown one.
    expect(items[1]?.message).toBe(items[2]?.message);
    await dev.close();
    const device = { kind: "device", id: "dev-1" } as const;
    expect(
      ts.registry
        .listThings()
        .filter((t) => ts.registry.visible(device, "thing", t.name))
        .map((t) => t.name),
    ).toEqual(["pump-1"]);
    for (const p of ["create", "read", "update", "delete"] as const) {
      expect(ts.registry.access.decide({ principal: device, permission: p, target: "pump-1" }).allowed).toBe(false);
      expect(() =>
        ts.registry.access.addEntry("allow", { kind: "device", name: "dev-1" }, p, {
          level: "collection",
          collection: "things",
        }),
      ).toThrow(AccessModelError);
    }
    expect(() => ts.registry.access.addMember("Administrators", { kind: "device", name: "dev-1" })).toThrow(
      /cannot be a member of Administrators/,
    );
    expect(ts.registry.isAdministrator(device)).toBe(false);
  });

  it("access - API: explain answers the decision with its entries; changes need Administrators and are audited with before and after", async () => {
    const mine = await raw("GET", "/api/access/explain?thing=pump-1&permission=property.read", ursula);
    expect(mine.status).toBe(200);
    const d = JSON.parse(mine.body) as { allowed: boolean; reason: string; entries: { subject: { name: string } }[] };
    expect(d).toMatchObject({ allowed: true, reason: "allow" });
    expect(d.entries.map((e) => e.subject.name)).toEqual(["Operators"]);
    const other = await raw(
      "GET",
      "/api/access/explain?principal=user:alice&thing=pump-1&permission=property.read",
      ursula,
    );
    expect(other.status).toBe(403);
    const refused = await raw("PUT", "/api/access/groups/Operators/members/user:victor", ursula);
    expect(refused.status).toBe(403);
    const deny = await raw(
      "POST",
      "/api/access/entries",
      ts.adminToken,
      JSON.stringify({
        effect: "deny",
        subject: "user:ursula",
        permission: "property.read",
        level: "thing:pump-1#speed",
      }),
    );
    expect(deny.status, deny.body).toBe(200);
    const explained = await raw(
      "GET",
      "/api/access/explain?principal=user:ursula&thing=pump-1&permission=property.read&member=speed",
      ts.adminToken,
    );
    expect(JSON.parse(explained.body)).toMatchObject({ allowed: false, reason: "deny" });
    const device = await raw("PUT", "/api/access/groups/Administrators/members/device:dev-1", ts.adminToken);
    expect(device.status).toBe(403);
    expect(device.body).toContain("cannot be a member of Administrators");
    const record = ts.audit.records.find((r) => r.type === "admin.change" && r.details?.action === "addAccessEntry");
    expect(record?.actor).toBe("operator:alice");
    expect(record?.details?.after).toMatchObject({ effect: "deny", permission: "property.read" });
    expect(ts.audit.records.some((r) => r.type === "denied" && r.actor === "operator:ursula")).toBe(true);
  });
});
