import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makePki, startTestServer, type TestPki, type TestServer } from "./edge-harness.js";
import { call, cookies, login, setTestPassword } from "./login-harness.js";

const ALICE_PW = "alice has a long password";
const VICTOR_PW = "victor has a long password";

let pki: TestPki;
let ts: TestServer;

beforeAll(async () => {
  pki = makePki(["dev-1", "dev-2"]);
  ts = await startTestServer(pki, { login: { lockout: { maxUserFailures: 3, maxSourceFailures: 1000 } } });
  await setTestPassword(ts, "alice", ALICE_PW);
  await setTestPassword(ts, "victor", VICTOR_PW);
});

afterAll(async () => {
  await ts?.close();
});

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe("login", () => {
  it("login - a good password gives a token for scripts; login and token creation are audited without the password", async () => {
    const r = await login(ts, pki, { username: "alice", password: ALICE_PW });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ operator: "alice", admin: true, kind: "token", authenticator: "local", groups: [] });
    expect(r.json.token).toMatch(/^opt_/);
    expect(r.headers["cache-control"]).toBe("no-store");
    const me = await call(ts, pki, "GET", "/api/whoami", { headers: bearer(r.json.token) });
    expect(me.json).toMatchObject({ operator: "alice", admin: true, tokenId: r.json.tokenId });
    const success = ts.audit.ofType("operator.login.success").at(-1)!;
    expect(success).toMatchObject({ actor: "operator:alice", source: "127.0.0.1" });
    expect(success.details).toMatchObject({ authenticator: "local", kind: "token", tokenId: r.json.tokenId });
    expect(ts.audit.ofType("operator.token.create").at(-1)?.target).toBe(`operator-token:${r.json.tokenId}`);
    const all = JSON.stringify(ts.audit.records);
    expect(all).not.toContain(ALICE_PW);
    expect(all).not.toContain(r.json.token);
  });

  it("login - a wrong password and an unknown user get the same answer; the audit says which", async () => {
    const wrong = await login(ts, pki, { username: "victor", password: "not the password" });
    const unknown = await login(ts, pki, { username: "nobody", password: "not the password" });
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    expect(unknown.json).toEqual(wrong.json);
    expect(wrong.json.error.code).toBe("OUTPOST_UNAUTHORIZED");
    const failures = ts.audit.ofType("operator.login.failure").slice(-2);
    expect(failures.map((f) => [f.actor, f.details?.reason])).toEqual([
      ["operator:victor", "bad-password"],
      ["operator:nobody", "unknown-user"],
    ]);
    expect(JSON.stringify(ts.audit.records)).not.toContain("not the password");
    // A success clears the count, so later tests start from zero for victor.
    expect((await login(ts, pki, { username: "victor", password: VICTOR_PW })).status).toBe(200);
  }, 120_000);

  it("login - an operator without a password cannot log in with one", async () => {
    ts.registry.createOperator("nopass", false);
    const r = await login(ts, pki, { username: "nopass", password: "anything at all" });
    expect(r.status).toBe(401);
    expect(ts.audit.ofType("operator.login.failure").at(-1)?.details?.reason).toBe("unknown-user");
  }, 120_000);

  it("login - lifetimes beyond the server's limit and unknown scope permissions are refused", async () => {
    const long = await login(ts, pki, { username: "alice", password: ALICE_PW, ttlSeconds: 365 * 86_400 });
    expect(long.status).toBe(400);
    const bad = await login(ts, pki, { username: "alice", password: ALICE_PW, scope: { permissions: ["root"] } });
    expect(bad.status).toBe(400);
    const badThing = await login(ts, pki, { username: "alice", password: ALICE_PW, scope: { things: ["-x"] } });
    expect(badThing.status).toBe(400);
  });
});

describe("login - lockout", () => {
  it("lockout - a username is locked after repeated failures, even for the right password, and unknown names alike", async () => {
    for (let i = 0; i < 3; i++) {
      expect((await login(ts, pki, { username: "victor", password: `wrong ${i} password` })).status).toBe(401);
    }
    const locked = await login(ts, pki, { username: "victor", password: VICTOR_PW });
    expect(locked.status).toBe(429);
    expect(locked.json.error.code).toBe("OUTPOST_TOO_MANY_REQUESTS");
    expect(Number(locked.headers["retry-after"])).toBeGreaterThan(0);
    const lockout = ts.audit.ofType("operator.lockout").at(-1)!;
    expect(lockout).toMatchObject({ actor: "operator:victor", source: "127.0.0.1" });
    expect(lockout.details?.lock).toBe("user");
    expect(ts.audit.ofType("operator.login.failure").at(-1)?.details?.reason).toBe("locked-out");
    // Another user from the same address is not affected by victor's lock.
    expect((await login(ts, pki, { username: "alice", password: ALICE_PW })).status).toBe(200);
    for (let i = 0; i < 3; i++) await login(ts, pki, { username: "ghost", password: `wrong ${i} password` });
    const ghost = await login(ts, pki, { username: "ghost", password: "wrong 3 password" });
    expect(ghost.status).toBe(429);
    expect(ghost.json.error.message.replace(/\d+ s/, "N s")).toBe(locked.json.error.message.replace(/\d+ s/, "N s"));
  }, 120_000);

  it("lockout - a source address is locked after failures across usernames", async () => {
    const other = await startTestServer(pki, { login: { lockout: { maxUserFailures: 100, maxSourceFailures: 3 } } });
    try {
      await setTestPassword(other, "alice", ALICE_PW);
      for (const u of ["u1", "u2", "u3"]) {
        expect((await login(other, pki, { username: u, password: "wrong password" })).status).toBe(401);
      }
      const r = await login(other, pki, { username: "alice", password: ALICE_PW });
      expect(r.status).toBe(429);
      expect(other.audit.ofType("operator.lockout").at(-1)?.details?.lock).toBe("source");
    } finally {
      await other.close();
    }
  }, 120_000);
});

describe("login - browser sessions", () => {
  const sessionLogin = () =>
    login(ts, pki, { username: "alice", password: ALICE_PW, kind: "session" }, { "x-outpost-csrf": "1" });

  it("sessions - the cookie is HttpOnly, Secure, SameSite=Strict; the body holds the CSRF token, not the session token", async () => {
    const r = await sessionLogin();
    expect(r.status).toBe(200);
    expect(r.json.token).toBeUndefined();
    const c = cookies(r);
    expect(c.outpost_session?.value).toMatch(/^opt_/);
    expect(c.outpost_session?.attributes).toEqual(
      expect.arrayContaining(["HttpOnly", "Secure", "SameSite=Strict", "Path=/api"]),
    );
    expect(c.outpost_csrf?.value).toBe(r.json.csrfToken);
    expect(c.outpost_csrf?.attributes).not.toContain("HttpOnly");
    expect(c.outpost_csrf?.attributes).toEqual(expect.arrayContaining(["Secure", "SameSite=Strict"]));
  });

  it("sessions - a session login without the CSRF header is refused (another site's form cannot log a browser in)", async () => {
    const r = await login(ts, pki, { username: "alice", password: ALICE_PW, kind: "session" });
    expect(r.status).toBe(403);
  });

  it("sessions - a state-changing request with the cookie needs the CSRF header; reads do not", async () => {
    const r = await sessionLogin();
    const cookie = `outpost_session=${cookies(r).outpost_session!.value}`;
    const me = await call(ts, pki, "GET", "/api/whoami", { headers: { cookie } });
    expect(me.status).toBe(200);
    expect(me.json.operator).toBe("alice");
    const path = "/api/things/pump-1/properties/speed";
    const forged = await call(ts, pki, "PUT", path, { headers: { cookie }, body: { value: 1 } });
    expect(forged.status).toBe(403);
    expect(forged.json.error.code).toBe("OUTPOST_FORBIDDEN");
    expect(ts.audit.ofType("denied").at(-1)?.details?.reason).toBe("csrf");
    const wrong = await call(ts, pki, "PUT", path, {
      headers: { cookie, "x-outpost-csrf": `${r.json.csrfToken}x` },
      body: { value: 1 },
    });
    expect(wrong.status).toBe(403);
    const ok = await call(ts, pki, "PUT", path, {
      headers: { cookie, "x-outpost-csrf": r.json.csrfToken },
      body: { value: 1 },
    });
    expect([200, 202]).toContain(ok.status);
  });

  it("sessions - a session token is not accepted as a bearer token, nor a script token as a cookie", async () => {
    const s = await sessionLogin();
    const asBearer = await call(ts, pki, "GET", "/api/whoami", { headers: bearer(cookies(s).outpost_session!.value) });
    expect(asBearer.status).toBe(401);
    const t = await login(ts, pki, { username: "alice", password: ALICE_PW });
    const asCookie = await call(ts, pki, "GET", "/api/whoami", {
      headers: { cookie: `outpost_session=${t.json.token}` },
    });
    expect(asCookie.status).toBe(401);
  });

  it("sessions - logout revokes the session and clears the cookies; the audit records it", async () => {
    const r = await sessionLogin();
    const cookie = `outpost_session=${cookies(r).outpost_session!.value}`;
    const noCsrf = await call(ts, pki, "POST", "/api/logout", { headers: { cookie } });
    expect(noCsrf.status).toBe(403);
    const out = await call(ts, pki, "POST", "/api/logout", { headers: { cookie, "x-outpost-csrf": r.json.csrfToken } });
    expect(out.status).toBe(200);
    expect(out.json).toEqual({ revoked: true, tokenId: r.json.tokenId });
    expect(cookies(out).outpost_session?.attributes).toContain("Max-Age=0");
    expect((await call(ts, pki, "GET", "/api/whoami", { headers: { cookie } })).status).toBe(401);
    expect(ts.audit.ofType("operator.token.revoke").at(-1)).toMatchObject({
      target: `operator-token:${r.json.tokenId}`,
      details: { via: "logout" },
    });
  });
});

describe("login - tokens", () => {
  it("tokens - a scoped token reaches only its Things and permissions, and carries no admin rights", async () => {
    const r = await login(ts, pki, {
      username: "alice",
      password: ALICE_PW,
      scope: { permissions: ["property.read"], things: ["pump-1"] },
    });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ admin: false, scope: { permissions: ["property.read"], things: ["pump-1"] } });
    const h = bearer(r.json.token);
    const list = await call(ts, pki, "GET", "/api/things", { headers: h });
    expect(list.json.things.map((t: { name: string }) => t.name)).toEqual(["pump-1"]);
    expect((await call(ts, pki, "GET", "/api/things/pump-1/properties", { headers: h })).status).toBe(200);
    const otherThing = await call(ts, pki, "GET", "/api/things/pump-2/properties", { headers: h });
    expect(otherThing.status).toBe(403);
    expect(ts.audit.ofType("denied").at(-1)?.details).toMatchObject({ reason: "token scope", tokenId: r.json.tokenId });
    const write = await call(ts, pki, "PUT", "/api/things/pump-1/properties/speed", { headers: h, body: { value: 2 } });
    expect(write.status).toBe(403);
    expect((await call(ts, pki, "GET", "/api/devices", { headers: h })).status).toBe(403);
    // The same operator's unscoped token can do all of it.
    const full = await login(ts, pki, { username: "alice", password: ALICE_PW });
    expect((await call(ts, pki, "GET", "/api/devices", { headers: bearer(full.json.token) })).status).toBe(200);
  });

  it("tokens - a scope never grants: a non-admin's scoped token still needs the operator's own permission", async () => {
    ts.registry.createOperator("vera", false);
    await setTestPassword(ts, "vera", VICTOR_PW);
    const r = await login(ts, pki, { username: "vera", password: VICTOR_PW, scope: { things: ["pump-1"] } });
    expect(r.status).toBe(200);
    const read = await call(ts, pki, "GET", "/api/things/pump-1/properties", { headers: bearer(r.json.token) });
    expect(read.status).toBe(403);
  });

  it("tokens - an expired login token is refused and the failure says so", async () => {
    const { token } = ts.registry.credentials.issue({
      operator: "alice",
      kind: "token",
      authenticator: "local",
      groups: [],
      scope: null,
      source: "127.0.0.1",
      ttlMs: 1,
    });
    await new Promise((resolve) => setTimeout(resolve, 5));
    const r = await call(ts, pki, "GET", "/api/whoami", { headers: bearer(token) });
    expect(r.status).toBe(401);
    expect(ts.audit.ofType("operator.login.failure").at(-1)?.details?.reason).toBe("expired");
  });

  it("tokens - a revoked login token is refused at once; logout of an operator add token is refused", async () => {
    const r = await login(ts, pki, { username: "alice", password: ALICE_PW });
    expect((await call(ts, pki, "POST", "/api/logout", { headers: bearer(r.json.token) })).status).toBe(200);
    expect((await call(ts, pki, "GET", "/api/whoami", { headers: bearer(r.json.token) })).status).toBe(401);
    const add = await call(ts, pki, "POST", "/api/logout", { headers: bearer(ts.adminToken) });
    expect(add.status).toBe(400);
    expect((await call(ts, pki, "GET", "/api/whoami", { headers: bearer(ts.adminToken) })).status).toBe(200);
  });
});
