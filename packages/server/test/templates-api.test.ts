import { request as httpsRequest } from "node:https";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AccessModelError } from "../src/access/model.js";
import { makePki, startTestServer, type TestPki, type TestServer } from "./edge-harness.js";

let pki: TestPki;
let ts: TestServer;
let ursula: string;

const PASSWORD = "pump-Pa55word-9c1e";
const PUMPS = {
  name: "pumps",
  description: "pumps",
  properties: [
    { name: "speed", type: "number" },
    { name: "password", type: "string", secret: true },
    { name: "serial", type: "string", writable: false },
  ],
  services: [{ name: "reset" }],
  events: [{ name: "alarm" }],
};

/** One raw HTTPS exchange: status and body text. */
function raw(method: string, path: string, token: string, body?: unknown) {
  return new Promise<{ status: number; body: string; json: Record<string, unknown> }>((resolve, reject) => {
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    if (body !== undefined) headers["content-type"] = "application/json";
    const req = httpsRequest(`${ts.server.operatorUrl}${path}`, { method, headers, ca: pki.caPem }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        resolve({
          status: res.statusCode ?? 0,
          body: text,
          json: text ? (JSON.parse(text) as Record<string, unknown>) : {},
        });
      });
    });
    req.on("error", reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

const ops = { kind: "group", name: "Operators" } as const;
const user = { kind: "user", name: "ursula" } as const;

beforeAll(async () => {
  pki = makePki(["dev-1", "dev-2"]);
  ts = await startTestServer(pki);
  ursula = ts.registry.createOperator("ursula", false).token;
});

afterAll(async () => {
  await ts?.close();
});

describe("templates over HTTPS", () => {
  it("templates - API: create, read, update and delete each need their design-time permission; changes are audited with before and after", async () => {
    expect((await raw("POST", "/api/templates", ursula, PUMPS)).status).toBe(403);
    const created = await raw("POST", "/api/templates", ts.adminToken, PUMPS);
    expect(created.status).toBe(200);
    expect(created.json).toMatchObject({ action: "createTemplate", target: "template:pumps", before: null });
    expect((await raw("GET", "/api/templates/pumps", ursula)).status).toBe(403);
    expect(((await raw("GET", "/api/templates", ursula)).json.templates as unknown[]).length).toBe(0);
    ts.registry.access.addEntry("allow", ops, "read", { level: "collection", collection: "templates" });
    const got = await raw("GET", "/api/templates/pumps", ursula);
    expect(got.status).toBe(200);
    expect((got.json.properties as { name: string; secret: boolean }[]).map((p) => [p.name, p.secret])).toEqual([
      ["speed", false],
      ["password", true],
      ["serial", false],
    ]);
    const update = { ...PUMPS, description: "pumps, v2" };
    expect((await raw("PUT", "/api/templates/pumps", ursula, update)).status).toBe(403);
    ts.registry.access.addEntry("allow", user, "update", { level: "template", template: "pumps" });
    const updated = await raw("PUT", "/api/templates/pumps", ursula, update);
    expect(updated.status).toBe(200);
    expect(updated.json).toMatchObject({ before: { description: "pumps" }, after: { description: "pumps, v2" } });
    const record = ts.audit.records.filter((r) => r.type === "admin.change").at(-1)!;
    expect(record).toMatchObject({ actor: "operator:ursula", target: "template:pumps" });
    expect(record.details).toMatchObject({ action: "updateTemplate", before: { description: "pumps" } });
    const denials = ts.audit.records.filter((r) => r.type === "denied" && r.actor === "operator:ursula");
    expect(denials.map((r) => r.details?.action)).toEqual(
      expect.arrayContaining(["template.create", "template.read", "template.update"]),
    );
    // A bad definition is a 400 naming the field.
    const bad = await raw("POST", "/api/templates", ts.adminToken, {
      name: "x",
      properties: [{ name: "a", type: "float" }],
    });
    expect(bad.status).toBe(400);
    await raw("POST", "/api/templates", ts.adminToken, { name: "spare" });
    expect((await raw("DELETE", "/api/templates/spare", ursula)).status).toBe(403);
    expect((await raw("DELETE", "/api/templates/spare", ts.adminToken)).json).toMatchObject({
      action: "deleteTemplate",
      after: null,
    });
  });

  it("templates - API: a Thing made from a template takes its instance entries; its secret value is masked in the audit log and read back in plaintext", async () => {
    const body = { name: "pump-7", deviceId: "dev-1", template: "pumps", properties: { speed: 2, password: PASSWORD } };
    expect((await raw("POST", "/api/things", ursula, body)).status).toBe(403);
    ts.registry.access.addEntry("allow", user, "create", { level: "instances", template: "pumps" });
    const made = await raw("POST", "/api/things", ursula, body);
    expect(made.status).toBe(200);
    expect(made.json.after).toMatchObject({
      name: "pump-7",
      template: "pumps",
      properties: { speed: 2, password: "<secret>" },
    });
    expect(JSON.stringify(ts.audit.records)).not.toContain(PASSWORD);
    expect(made.body).not.toContain(PASSWORD);
    // Not from another template: the instance entry is for pumps only.
    expect((await raw("POST", "/api/things", ursula, { name: "x-1", deviceId: "dev-1" })).status).toBe(403);

    ts.registry.access.addEntry("allow", ops, "property.read", { level: "instances", template: "pumps" });
    const read = await raw("GET", "/api/things/pump-7/properties", ursula);
    expect(read.status).toBe(200);
    expect((read.json.properties as { name: string; value: unknown }[]).find((p) => p.name === "password")?.value).toBe(
      PASSWORD,
    );
    // pump-1 is made from no template: the instance entry does not reach it.
    expect((await raw("GET", "/api/things/pump-1/properties", ursula)).status).toBe(403);
    const listed = await raw("GET", "/api/things", ursula);
    expect(listed.json.things as { name: string; template?: string }[]).toEqual([
      expect.objectContaining({ name: "pump-7", template: "pumps" }),
    ]);
    // A Deny at the template-instance level beats the Allow; explain shows it.
    const deny = ts.registry.access.addEntry("deny", user, "property.read", { level: "instances", template: "pumps" });
    expect((await raw("GET", "/api/things/pump-7/properties", ursula)).status).toBe(403);
    const why = await raw("GET", "/api/access/explain?thing=pump-7&permission=property.read", ursula);
    expect(why.json).toMatchObject({
      allowed: false,
      reason: "deny",
      entries: [{ target: { level: "instances", template: "pumps" } }],
    });
    // The same asked of the template: its instance level, with the entry that decided it.
    const atTemplate = await raw("GET", "/api/access/explain?instances=pumps&permission=property.read", ursula);
    expect(atTemplate.json).toMatchObject({
      allowed: false,
      reason: "deny",
      level: "instances:pumps",
      entries: [{ effect: "deny", target: { level: "instances", template: "pumps" } }],
    });
    const both = await raw("GET", "/api/access/explain?thing=pump-7&template=pumps&permission=property.read", ursula);
    expect(both.status).toBe(400);
    ts.registry.access.removeEntry(deny.id);

    // The template's declaration holds for writes: read-only and typed.
    ts.registry.access.addEntry("allow", ops, "property.write", { level: "instances", template: "pumps" });
    expect((await raw("PUT", "/api/things/pump-7/properties/serial", ursula, { value: "s-2" })).status).toBe(400);
    expect((await raw("PUT", "/api/things/pump-7/properties/speed", ursula, { value: "fast" })).status).toBe(400);

    expect((await raw("GET", "/api/things/pump-7", ursula)).status).toBe(403);
    ts.registry.access.addEntry("allow", user, "read", { level: "instances", template: "pumps" });
    expect((await raw("GET", "/api/things/pump-7", ursula)).json).toEqual({
      name: "pump-7",
      deviceId: "dev-1",
      description: "",
      template: "pumps",
    });
    expect((await raw("DELETE", "/api/things/pump-7", ursula)).status).toBe(403);
    ts.registry.access.addEntry("allow", user, "delete", { level: "thing", thing: "pump-7" });
    const removed = await raw("DELETE", "/api/things/pump-7", ursula);
    expect(removed.json).toMatchObject({ action: "deleteThing", before: { name: "pump-7" }, after: null });
    expect(ts.registry.getThing("pump-7")).toBeUndefined();
    expect((await raw("GET", "/api/things/pump-7", ts.adminToken)).status).toBe(404);
  });

  it("templates - API: an invisible template answers byte for byte like one that does not exist, and is not listed", async () => {
    const access = ts.registry.access;
    await raw("POST", "/api/templates", ts.adminToken, { name: "hidden" });
    access.addEntry("allow", ops, "create", { level: "collection", collection: "things" });
    access.createOrganization("acme");
    access.createUnit("acme", "line");
    access.addUnitMember("acme", "line", user);
    access.grantVisibility("acme", "line", "template", "pumps");
    access.grantVisibility("acme", "line", "device", "dev-1");
    try {
      const names = ((await raw("GET", "/api/templates", ursula)).json.templates as { name: string }[]).map(
        (t) => t.name,
      );
      expect(names).toEqual(["pumps"]);
      const cases: [string, (t: string) => string, unknown?, ((t: string) => unknown)?][] = [
        ["GET", (t) => `/api/templates/${t}`],
        ["PUT", (t) => `/api/templates/${t}`, {}],
        ["DELETE", (t) => `/api/templates/${t}`],
        ["POST", () => "/api/things", undefined, (t) => ({ name: "p-new", deviceId: "dev-1", template: t })],
      ];
      for (const [method, path, body, bodyOf] of cases) {
        const hidden = await raw(method, path("hidden"), ursula, bodyOf?.("hidden") ?? body);
        const missing = await raw(method, path("nope"), ursula, bodyOf?.("nope") ?? body);
        expect(hidden.status, `${method} ${path("hidden")}`).toBe(404);
        expect(hidden.status).toBe(missing.status);
        expect(hidden.body.replaceAll("hidden", "NAME")).toBe(missing.body.replaceAll("nope", "NAME"));
      }
      // The visible one is reached past visibility (its permission decides).
      expect((await raw("GET", "/api/templates/pumps", ursula)).status).toBe(200);
    } finally {
      access.deleteOrganization("acme");
    }
  });

  it("templates - API: a create under a name taken by an invisible Thing or template answers as a caller without create is answered, never 409", async () => {
    const access = ts.registry.access;
    // tess holds only what this test gives her (not a member of Operators).
    const tess = ts.registry.createOperator("tess", false).token;
    const who = { kind: "user", name: "tess" } as const;
    access.removeMember("Operators", who);
    ts.registry.assignThing("vault", "dev-2");
    access.createOrganization("north");
    access.createUnit("north", "crew");
    access.addUnitMember("north", "crew", who);
    access.grantVisibility("north", "crew", "device", "dev-1");
    const cases: [string, Record<string, unknown>, "things" | "templates"][] = [
      ["/api/things", { name: "vault", deviceId: "dev-1" }, "things"],
      ["/api/templates", { name: "hidden" }, "templates"],
    ];
    try {
      for (const [path, body, collection] of cases) {
        const without = await raw("POST", path, tess, body);
        expect(without.status, `${path} without create`).toBe(403);
        const e = access.addEntry("allow", who, "create", { level: "collection", collection });
        const taken = await raw("POST", path, tess, body);
        access.removeEntry(e.id);
        expect(taken.status, `${path} taken by an invisible one`).toBe(403);
        expect(taken.body).toBe(without.body);
        const denial = ts.audit.records.filter((r) => r.type === "denied" && r.actor === "operator:tess").at(-1)!;
        expect(denial.details).toMatchObject({ reason: "name taken by an invisible entity" });
      }
      // A taken name the caller sees is still a conflict: nothing is hidden from it.
      const e = access.addEntry("allow", who, "create", { level: "collection", collection: "things" });
      try {
        expect((await raw("POST", "/api/things", tess, { name: "pump-1", deviceId: "dev-1" })).status).toBe(409);
      } finally {
        access.removeEntry(e.id);
      }
    } finally {
      access.deleteOrganization("north");
    }
  });

  it("templates - a device can never be given a design-time permission, at any template level", () => {
    for (const p of ["create", "read", "update", "delete"] as const) {
      for (const level of [
        { level: "instances", template: "pumps" },
        { level: "collection", collection: "templates" },
      ] as const) {
        expect(() => ts.registry.access.addEntry("allow", { kind: "device", name: "dev-1" }, p, level)).toThrow(
          AccessModelError,
        );
      }
    }
  });
});
