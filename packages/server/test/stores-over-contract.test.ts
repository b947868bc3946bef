import { randomBytes } from "node:crypto";
import { request as httpsRequest } from "node:https";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MemoryAuditLog } from "../src/audit/memory-audit-log.js";
import { LocalAuthenticator } from "../src/auth/authenticator.js";
import { LoginLockout } from "../src/auth/lockout.js";
import { LoginService } from "../src/auth/login.js";
import { hashPassword } from "../src/auth/passwords.js";
import { FailureLimiter } from "../src/auth/rate-limit.js";
import { silentLogger } from "../src/logging/logger.js";
import { type OperatorApi, startOperatorApi } from "../src/operator-api/operator-server.js";
import { asyncRegistryOf } from "../src/registry/async-sqlite.js";
import { sqliteUnder } from "../src/registry/sqlite-under.js";
import type { Registry } from "../src/registry/async-types.js";
import { SqliteRegistry } from "../src/registry/sqlite.js";
import { ChangeHub } from "../src/things/changes.js";
import { DeviceLinks } from "../src/things/device-links.js";
import { ThingService } from "../src/things/thing-service.js";
import { calls, deferredRegistry } from "./deferred-registry.js";
import { makePki, type TestPki } from "./edge-harness.js";
import { TEST_SCRYPT } from "./login-harness.js";

const PASSWORD = "contract-Pa55word-41ab";

let pki: TestPki;
let sqlite: SqliteRegistry;
let registry: Registry;
let audit: MemoryAuditLog;
let api: OperatorApi;
let adminToken: string;

interface Reply {
  status: number;
  json: Record<string, unknown>;
}

function call(method: string, path: string, token: string | undefined, body?: unknown): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (token !== undefined) headers.authorization = `Bearer ${token}`;
    const req = httpsRequest(`${api.url}${path}`, { method, headers, ca: pki.caPem }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        resolve({ status: res.statusCode ?? 0, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} });
      });
    });
    req.on("error", reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

beforeAll(async () => {
  pki = makePki(["dev-1"]);
  sqlite = new SqliteRegistry(":memory:", { dataKey: randomBytes(32) });
  sqlite.createDevice("dev-1");
  adminToken = sqlite.createOperator("alice", true).token;
  sqlite.createOperator("olga", false);
  sqlite.credentials.setPassword("olga", await hashPassword(PASSWORD, TEST_SCRYPT));
  const view = asyncRegistryOf(sqlite);
  registry = deferredRegistry(view);
  audit = new MemoryAuditLog();
  const links = new DeviceLinks();
  const hub = new ChangeHub();
  const things = new ThingService({ registry, audit, links, hub });
  const login = new LoginService({
    credentials: registry.credentials,
    authenticators: [new LocalAuthenticator(registry.credentials)],
    lockout: new LoginLockout(),
    audit,
  });
  api = await startOperatorApi({
    port: 0,
    certPem: pki.serverCertPem,
    keyPem: pki.serverKeyPem,
    registry,
    credentials: registry.credentials,
    login,
    audit,
    things,
    logger: silentLogger(),
    limiter: new FailureLimiter(),
  });
});

afterAll(async () => {
  await api?.close();
  await registry?.close();
});

describe("the registry's stores over a registry that is not the SQLite view", () => {
  it("stores contract - the registry under test is not the SQLite view", () => {
    expect(sqliteUnder(registry)).toBeUndefined();
  });

  it("stores contract - a password login issues a token the bearer check accepts; logout revokes it", async () => {
    calls.length = 0;
    const granted = await call("POST", "/api/login", undefined, { username: "olga", password: PASSWORD });
    expect(granted.status, JSON.stringify(granted.json)).toBe(200);
    expect(granted.json).toMatchObject({ operator: "olga", admin: false, kind: "token", authenticator: "local" });
    const token = String(granted.json.token);
    expect((await call("POST", "/api/login", undefined, { username: "olga", password: "wrong" })).status).toBe(401);

    const me = await call("GET", "/api/whoami", token);
    expect(me.status).toBe(200);
    expect(me.json).toMatchObject({ operator: "olga", admin: false, tokenId: granted.json.tokenId });
    const out = await call("POST", "/api/logout", token);
    expect(out.json).toEqual({ revoked: true, tokenId: granted.json.tokenId });
    expect((await call("GET", "/api/whoami", token)).status).toBe(401);
    // The operator tokens of `operator add` still pass, through the same contract.
    expect((await call("GET", "/api/whoami", adminToken)).json).toMatchObject({ operator: "alice", admin: true });

    for (const name of ["credentials.passwordHash", "credentials.issue", "credentials.check", "credentials.revoke"]) {
      expect(calls).toContain(name);
    }
    expect(audit.records.filter((e) => e.type === "operator.login.success")).toHaveLength(1);
  });

  it("stores contract - concurrent template updates each record the state before and after them, in one chain", async () => {
    const properties = (n: number) => [{ name: `p${n}`, type: "number" }];
    const created = await call("POST", "/api/templates", adminToken, { name: "pumps", properties: properties(0) });
    expect(created.status, JSON.stringify(created.json)).toBe(200);
    calls.length = 0;
    const updates = await Promise.all(
      [1, 2, 3, 4, 5, 6].map((n) => call("PUT", "/api/templates/pumps", adminToken, { properties: properties(n) })),
    );
    for (const u of updates) expect(u.status, JSON.stringify(u.json)).toBe(200);
    expect(calls).toContain("templates.update");
    // Each update's "before" is the "after" of exactly one other (or the created template): no two saw the same state.
    const names = (t: unknown) => (t as { properties: { name: string }[] }).properties.map((p) => p.name).join();
    const befores = updates.map((u) => names(u.json.before));
    const afters = updates.map((u) => names(u.json.after));
    expect(new Set(befores).size).toBe(updates.length);
    expect(befores.filter((b) => !afters.includes(b))).toEqual(["p0"]);
    const records = audit.records.filter((e) => e.details?.action === "updateTemplate");
    expect(records.map((e) => names(e.details?.before)).sort()).toEqual([...befores].sort());
  });

  it("stores contract - a Thing made from a template masks its secret initial value in the answer and the audit record", async () => {
    const template = {
      name: "locks",
      properties: [
        { name: "code", type: "string", secret: true },
        { name: "label", type: "string" },
      ],
    };
    expect((await call("POST", "/api/templates", adminToken, template)).status).toBe(200);
    const made = await call("POST", "/api/things", adminToken, {
      name: "lock-1",
      deviceId: "dev-1",
      template: "locks",
      properties: { code: "1234-secret", label: "front" },
    });
    expect(made.status, JSON.stringify(made.json)).toBe(200);
    expect(made.json.after).toMatchObject({ name: "lock-1", properties: { code: "<secret>", label: "front" } });
    const record = audit.records.find((e) => e.details?.action === "createThing");
    expect(JSON.stringify(record)).not.toContain("1234-secret");
    expect(calls).toContain("secrets.secretsOf");
  });
});
