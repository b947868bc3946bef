import { isOutpostError } from "@outpost/protocol";
import { describe, expect, it } from "vitest";
import { CompiledModel, decide, decideInstances } from "../src/access/decide.js";
import { type ExplainDecider, explainAccess, parseExplainTarget } from "../src/access/explain.js";
import type { AccessPermission, AccessPrincipal, Decision } from "../src/access/model.js";
import { entry, snapshot, type TestModel } from "./access-helpers.js";

const olga = { kind: "user", name: "olga" } as const;
const night = { kind: "group", name: "night-shift" } as const;
const instances = { level: "instances", template: "pumps" } as const;

const MODEL: TestModel = {
  users: ["olga", "ivan", "root"],
  devices: ["gw-1"],
  // A Thing may bear its template's name: the instance level still holds no owner permission.
  things: { pump: "gw-1", fan: "gw-1", pumps: "gw-1" },
  groups: { "night-shift": ["user:olga"], Administrators: ["user:root"] },
  templates: { pumps: ["pump"], valves: [] },
  entries: [
    entry("allow", night, "property.read", instances),
    entry("deny", olga, "property.write", instances),
    // Entries of one Thing belong to that Thing, not to the template-instance level.
    entry("allow", olga, "property.write", { level: "thing", thing: "pump" }),
    entry("allow", olga, "service.execute", { level: "thing", thing: "pump" }),
    entry("allow", olga, "update", { level: "template", template: "pumps" }),
    entry("allow", olga, "create", instances),
    entry("allow", olga, "read", { level: "collection", collection: "things" }),
  ],
};

function decider(m: TestModel): ExplainDecider {
  const model = new CompiledModel(snapshot(m));
  return { decide: (r, e) => decide(model, r, e), decideInstances: (r) => decideInstances(model, r) };
}

const user = (id: string): AccessPrincipal => ({ kind: "operator", id });
const gw1: AccessPrincipal = { kind: "device", id: "gw-1" };
const levels = (d: Decision) => d.entries.map((e) => `${e.effect} ${e.origin} ${JSON.stringify(e.target)}`);

describe("access - explain on a template", () => {
  const cases: [string, AccessPrincipal, AccessPermission, string, Partial<Decision>, string[]][] = [
    [
      "a group Allow at the instance level",
      user("olga"),
      "property.read",
      "instances:pumps",
      { allowed: true, reason: "allow", level: "instances:pumps" },
      [`allow stored ${JSON.stringify(instances)}`],
    ],
    [
      "a run-time permission on template:T is its instance level",
      user("olga"),
      "property.read",
      "template:pumps",
      { allowed: true, reason: "allow", level: "instances:pumps" },
      [`allow stored ${JSON.stringify(instances)}`],
    ],
    [
      "the instance Deny, without the Thing's own Allow",
      user("olga"),
      "property.write",
      "instances:pumps",
      { allowed: false, reason: "deny", level: "instances:pumps" },
      [`deny stored ${JSON.stringify(instances)}`],
    ],
    [
      "a Thing-level Allow does not reach the instance level",
      user("olga"),
      "service.execute",
      "instances:pumps",
      { allowed: false, reason: "default", level: "instances:pumps" },
      [],
    ],
    [
      "the collection counts at the instance level",
      user("olga"),
      "read",
      "instances:pumps",
      { allowed: true, reason: "allow" },
      [`allow stored ${JSON.stringify({ level: "collection", collection: "things" })}`],
    ],
    [
      "create at the instance level: may make Things from it",
      user("olga"),
      "create",
      "instances:pumps",
      { allowed: true, reason: "allow", level: "instances:pumps" },
      [`allow stored ${JSON.stringify(instances)}`],
    ],
    [
      "a design permission on template:T is the template itself",
      user("olga"),
      "update",
      "template:pumps",
      { allowed: true, reason: "allow" },
      [`allow stored ${JSON.stringify({ level: "template", template: "pumps" })}`],
    ],
    [
      "the template's own entry does not cover its instances",
      user("olga"),
      "update",
      "instances:pumps",
      { allowed: false, reason: "default" },
      [],
    ],
    [
      "another user holds nothing there",
      user("ivan"),
      "property.read",
      "instances:pumps",
      { allowed: false, reason: "default" },
      [],
    ],
    [
      "Administrators",
      user("root"),
      "property.write",
      "instances:pumps",
      { allowed: true, reason: "allow" },
      [`allow administrators ${JSON.stringify({ level: "collection", collection: "things" })}`],
    ],
    [
      "a device's owner permissions belong to its Things",
      gw1,
      "property.read",
      "instances:pumps",
      { allowed: false, reason: "default" },
      [],
    ],
    ["a device holds no design time", gw1, "create", "instances:pumps", { reason: "device-excluded" }, []],
    ["no such template", user("olga"), "property.read", "instances:nope", { reason: "not-found" }, []],
  ];
  for (const [what, principal, permission, target, expected, entries] of cases) {
    it(`access - explain ${target} ${permission} for ${principal.id}: ${what}`, () => {
      const d = explainAccess(decider(MODEL), principal, permission, parseExplainTarget(target));
      expect(d).toMatchObject(expected);
      expect(levels(d)).toEqual(entries);
    });
  }

  it("access - explain: the Thing itself still sees its own entries and the instance ones", () => {
    const d = explainAccess(decider(MODEL), user("olga"), "property.write", parseExplainTarget("pump"));
    expect(d.reason).toBe("deny");
    expect(d.level).toBeUndefined();
    const read = explainAccess(decider(MODEL), user("olga"), "property.read", parseExplainTarget("pump"));
    expect(levels(read)).toEqual([`allow stored ${JSON.stringify(instances)}`]);
  });

  it("access - explain: create from an invisible template is invisible; other permissions follow each Thing", () => {
    const m: TestModel = {
      ...MODEL,
      units: {
        "acme/acme": { parent: null, members: [] },
        "acme/line": { parent: "acme/acme", members: ["user:olga"] },
      },
    };
    expect(explainAccess(decider(m), user("olga"), "create", parseExplainTarget("instances:pumps")).reason).toBe(
      "invisible",
    );
    const read = explainAccess(decider(m), user("olga"), "property.read", parseExplainTarget("instances:pumps"));
    expect(read).toMatchObject({ allowed: true, visibility: expect.stringContaining("each Thing's own") });
    const shown = { ...m, visibility: { "template:pumps": ["acme/line"] } };
    expect(explainAccess(decider(shown), user("olga"), "create", parseExplainTarget("instances:pumps")).allowed).toBe(
      true,
    );
  });

  it("access - explain: a device permission or a member on a template is a bad request", () => {
    const codeOf = (f: () => unknown) => {
      try {
        f();
      } catch (err) {
        return isOutpostError(err) ? err.code : String(err);
      }
      return "no error";
    };
    const d = decider(MODEL);
    const t = parseExplainTarget("instances:pumps");
    expect(codeOf(() => explainAccess(d, user("olga"), "tunnel.open", t))).toBe("OUTPOST_BAD_REQUEST");
    expect(codeOf(() => explainAccess(d, user("olga"), "property.read", t, "speed"))).toBe("OUTPOST_BAD_REQUEST");
    expect(parseExplainTarget("template:")).toEqual({ kind: "thing", name: "template:" });
  });
});
