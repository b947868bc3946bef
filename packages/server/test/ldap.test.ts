import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSlapd, type Slapd } from "../../../test/helpers/slapd.js";
import { LdapAuthenticator, escapeFilterValue } from "../src/auth/ldap.js";
import { validateServerConfig } from "../src/config/server-config.js";
import { makePki, startTestServer, type TestPki, type TestServer } from "./edge-harness.js";
import { call, login } from "./login-harness.js";

const PW = { dora: "dora directory password", erin: "erin directory password", fred: "fred directory password" };

let slapd: Slapd;
let pki: TestPki;
let ts: TestServer;

function ldapOptions(s: Slapd) {
  return {
    url: s.url,
    bindDn: s.readerDn,
    bindPassword: s.readerPassword,
    userBase: s.userBase,
    userFilter: "(&(objectClass=inetOrgPerson)(uid={username}))",
    groupBase: s.groupBase,
    groupMap: {
      [s.groupDn("outpost-admins")]: "Administrators",
      [s.groupDn("line-operators").toUpperCase()]: ["Operators", "Line 1"],
    },
    disabledFilter: "(employeeType=disabled)",
  };
}

beforeAll(async () => {
  slapd = await startSlapd(
    [
      { uid: "dora", password: PW.dora },
      { uid: "erin", password: PW.erin },
      { uid: "fred", password: PW.fred, employeeType: "disabled" },
    ],
    {
      "outpost-admins": ["dora"],
      "line-operators": ["dora", "erin"],
      unmapped: ["erin"],
    },
  );
  pki = makePki(["dev-1", "dev-2"]);
  ts = await startTestServer(pki, {
    authenticators: [new LdapAuthenticator(ldapOptions(slapd))],
    login: { lockout: { maxUserFailures: 3, maxSourceFailures: 1000 } },
  });
}, 60_000);

afterAll(async () => {
  await ts?.close();
  await slapd?.stop();
});

describe("ldap", () => {
  it("ldap - a good password binds, the operator is created on first login, and directory groups are mapped", async () => {
    expect(ts.registry.credentials.operator("dora")).toBeUndefined();
    const r = await login(ts, pki, { username: "dora", password: PW.dora });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({
      operator: "dora",
      // Administrators comes from the directory group mapping.
      admin: true,
      authenticator: "ldap",
      groups: ["Administrators", "Line 1", "Operators"],
    });
    expect(ts.registry.credentials.operator("dora")).toMatchObject({ name: "dora", admin: false });
    const devices = await call(ts, pki, "GET", "/api/devices", {
      headers: { authorization: `Bearer ${r.json.token}` },
    });
    expect(devices.status).toBe(200);
    expect(ts.audit.ofType("admin.change").at(-1)).toMatchObject({
      target: "operator:dora",
      details: { action: "operator.add", via: "ldap login" },
    });
    const success = ts.audit.ofType("operator.login.success").at(-1)!;
    expect(success.details).toMatchObject({ authenticator: "ldap", groups: ["Administrators", "Line 1", "Operators"] });
    const erin = await login(ts, pki, { username: "erin", password: PW.erin });
    expect(erin.json).toMatchObject({ admin: false, groups: ["Line 1", "Operators"] });
    const refused = await call(ts, pki, "GET", "/api/devices", {
      headers: { authorization: `Bearer ${erin.json.token}` },
    });
    expect(refused.status).toBe(403);
    const me = await call(ts, pki, "GET", "/api/whoami", { headers: { authorization: `Bearer ${erin.json.token}` } });
    expect(me.json.operator).toBe("erin");
    expect(JSON.stringify(ts.audit.records)).not.toContain(PW.erin);
  }, 120_000);

  it("ldap - the mapped groups reach the request's principal", async () => {
    const r = await login(ts, pki, { username: "erin", password: PW.erin });
    const me = await call(ts, pki, "GET", "/api/whoami", { headers: { authorization: `Bearer ${r.json.token}` } });
    expect(me.json).toMatchObject({ operator: "erin", groups: ["Line 1", "Operators"] });
  });

  it("ldap - a bad password and an unknown user are refused alike; the audit says which", async () => {
    const bad = await login(ts, pki, { username: "erin", password: "not erin's password" });
    const unknown = await login(ts, pki, { username: "zoe", password: "not anyone's password" });
    expect(bad.status).toBe(401);
    expect(unknown.status).toBe(401);
    expect(unknown.json).toEqual(bad.json);
    const reasons = ts.audit
      .ofType("operator.login.failure")
      .slice(-2)
      .map((f) => f.details);
    expect(reasons).toEqual([
      expect.objectContaining({ reason: "bad-password", authenticator: "ldap" }),
      expect.objectContaining({ reason: "unknown-user", authenticator: "ldap" }),
    ]);
    expect((await login(ts, pki, { username: "erin", password: PW.erin })).status).toBe(200);
  }, 120_000);

  it("ldap - a disabled directory user is refused even with the right password", async () => {
    const r = await login(ts, pki, { username: "fred", password: PW.fred });
    expect(r.status).toBe(401);
    expect(ts.audit.ofType("operator.login.failure").at(-1)?.details).toMatchObject({
      reason: "disabled",
      authenticator: "ldap",
    });
    expect(ts.registry.credentials.operator("fred")).toBeUndefined();
  });

  it("ldap - filter metacharacters in a username cannot widen the search", async () => {
    expect(escapeFilterValue("*)(uid=*")).toBe("\\2a\\29\\28uid=\\2a");
    const r = await login(ts, pki, { username: "*", password: PW.dora });
    expect(r.status).toBe(401);
    const direct = await new LdapAuthenticator(ldapOptions(slapd)).authenticate({
      username: "d*",
      password: PW.dora,
      source: "test",
    });
    expect(direct).toMatchObject({ ok: false, reason: "unknown-user" });
  });

  it("ldap - repeated bad passwords lock the directory user out; the lockout is audited", async () => {
    for (let i = 0; i < 3; i++) {
      expect((await login(ts, pki, { username: "dora", password: `wrong ${i} password` })).status).toBe(401);
    }
    const locked = await login(ts, pki, { username: "dora", password: PW.dora });
    expect(locked.status).toBe(429);
    expect(Number(locked.headers["retry-after"])).toBeGreaterThan(0);
    expect(ts.audit.ofType("operator.lockout").at(-1)).toMatchObject({
      actor: "operator:dora",
      details: { lock: "user" },
    });
  }, 120_000);

  it("ldap - a directory that cannot be reached refuses the login as unavailable, without a lockout count", async () => {
    const down = new LdapAuthenticator({ ...ldapOptions(slapd), url: "ldap://127.0.0.1:1", timeoutMs: 2_000 });
    const r = await down.authenticate({ username: "erin", password: PW.erin, source: "test" });
    expect(r).toMatchObject({ ok: false, reason: "unavailable" });
  });

  it("ldap - config: plain ldap:// to another host is refused; unknown keys and bad group maps are refused", () => {
    const base = { userBase: "ou=people,dc=x" };
    const cfg = (ldap: Record<string, unknown>) => () =>
      validateServerConfig({ login: { ldap: { ...base, ...ldap } } });
    expect(cfg({ url: "ldap://dir.example.com" })).toThrow(/login.ldap.url/);
    expect(cfg({ url: "ldap://dir.example.com", startTls: true })).not.toThrow();
    expect(cfg({ url: "ldaps://dir.example.com:636" })).not.toThrow();
    expect(cfg({ url: "ldap://127.0.0.1:389" })).not.toThrow();
    expect(cfg({ url: "ldaps://d", colour: 1 })).toThrow(/unknown key login.ldap.colour/);
    expect(cfg({ url: "ldaps://d", groupMap: { "cn=a": 5 } })).toThrow(/groupMap/);
    expect(cfg({ url: "ldaps://d", bindDn: "cn=r" })).toThrow(/bindPasswordFile/);
    expect(cfg({ url: "ldaps://d", userFilter: "(uid=x)" })).toThrow(/userFilter/);
    expect(validateServerConfig({}).login.ldap).toBeNull();
  });
});
