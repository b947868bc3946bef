import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CompiledModel, decide } from "../src/access/decide.js";
import { AccessEngine } from "../src/access/engine.js";
import {
  type AccessPermission,
  type AccessPrincipal,
  type AccessRequest,
  ACCESS_PERMISSIONS,
  type Level,
  type Subject,
  THING_RUNTIME_PERMISSIONS,
} from "../src/access/model.js";
import { entry, snapshot, type TestModel } from "./access-helpers.js";

const base: TestModel = {
  users: ["alice", "bob"],
  devices: ["dev-1", "dev-2"],
  things: { pump: "dev-1", valve: "dev-2" },
  groups: { Operators: ["user:alice"], Administrators: [], Devices: ["device:dev-1", "device:dev-2"] },
  templates: { pumps: ["pump"], valves: [] },
};

function run(m: TestModel, req: AccessRequest, entity?: "thing" | "device") {
  return decide(new CompiledModel(snapshot(m)), req, entity);
}

const alice: AccessPrincipal = { kind: "operator", id: "alice" };

const LEVELS: Record<string, Level> = {
  collection: { level: "collection", collection: "things" },
  instances: { level: "instances", template: "pumps" },
  "other template's instances": { level: "instances", template: "valves" },
  thing: { level: "thing", thing: "pump" },
  member: { level: "member", thing: "pump", member: "speed" },
};

// Requests, and which entry levels cover each (the oracle of the matrix, written out by hand).
const REQUESTS: { name: string; target: string; member?: string; covered: string[] }[] = [
  // pump is made from template pumps; valve from none.
  {
    name: "the member pump#speed",
    target: "pump",
    member: "speed",
    covered: ["collection", "instances", "thing", "member"],
  },
  { name: "the whole Thing pump", target: "pump", covered: ["collection", "instances", "thing"] },
  {
    name: "another member pump#level",
    target: "pump",
    member: "level",
    covered: ["collection", "instances", "thing"],
  },
  { name: "another Thing valve", target: "valve", covered: ["collection"] },
];

const SUBJECTS: Record<string, Subject> = {
  user: { kind: "user", name: "alice" },
  group: { kind: "group", name: "Operators" },
  "external group": { kind: "group", name: "ldap-ops" },
  "other user": { kind: "user", name: "bob" },
};
// Whether the subject's entries apply to alice (alice is in Operators; ldap-ops comes from her login).
const APPLIES_TO_ALICE: Record<string, boolean> = {
  user: true,
  group: true,
  "external group": true,
  "other user": false,
};
const aliceExternal: AccessPrincipal = { ...alice, groups: ["ldap-ops"] };

describe("access engine", () => {
  describe("access - permission matrix: one entry (level × allow/deny × subject)", () => {
    for (const [levelName, level] of Object.entries(LEVELS)) {
      for (const effect of ["allow", "deny"] as const) {
        for (const [subjectName, subject] of Object.entries(SUBJECTS)) {
          for (const r of REQUESTS) {
            const expected = effect === "allow" && APPLIES_TO_ALICE[subjectName]! && r.covered.includes(levelName);
            it(`access - ${effect} for ${subjectName} at ${levelName}: ${r.name} is ${expected ? "allowed" : "denied"}`, () => {
              const m = { ...base, entries: [entry(effect, subject, "property.read", level)] };
              const d = run(m, {
                principal: aliceExternal,
                permission: "property.read",
                target: r.target,
                ...(r.member ? { member: r.member } : {}),
              });
              expect(d.allowed).toBe(expected);
              expect(d.reason).toBe(
                expected
                  ? "allow"
                  : effect === "deny" && APPLIES_TO_ALICE[subjectName] && r.covered.includes(levelName)
                    ? "deny"
                    : "default",
              );
              // Another permission is never affected.
              const other = run(m, { principal: aliceExternal, permission: "property.write", target: r.target });
              expect(other.allowed).toBe(false);
            });
          }
        }
      }
    }
  });

  describe("access - permission matrix: conflicts (a Deny anywhere beats every Allow)", () => {
    for (const [allowLevel, al] of Object.entries(LEVELS)) {
      for (const [denyLevel, dl] of Object.entries(LEVELS)) {
        for (const [allowSubject, denySubject] of [
          ["user", "group"],
          ["group", "user"],
          ["external group", "user"],
          ["user", "external group"],
          ["group", "group"],
        ] as const) {
          for (const r of REQUESTS) {
            const allowApplies = r.covered.includes(allowLevel);
            const denyApplies = r.covered.includes(denyLevel);
            const expected = allowApplies && !denyApplies;
            it(`access - allow ${allowSubject}@${allowLevel} + deny ${denySubject}@${denyLevel}: ${r.name} is ${expected ? "allowed" : "denied"}`, () => {
              const m = {
                ...base,
                entries: [
                  entry("allow", SUBJECTS[allowSubject]!, "service.execute", al),
                  entry("deny", SUBJECTS[denySubject]!, "service.execute", dl),
                ],
              };
              const d = run(m, {
                principal: aliceExternal,
                permission: "service.execute",
                target: r.target,
                ...(r.member ? { member: r.member } : {}),
              });
              expect(d.allowed).toBe(expected);
              if (denyApplies) {
                expect(d.reason).toBe("deny");
                expect(d.entries.every((e) => e.effect === "deny")).toBe(true);
              }
            });
          }
        }
      }
    }
  });

  it("access - a device holds the default run-time permissions on its own Things only; a Deny (restriction) removes one", () => {
    const dev: AccessPrincipal = { kind: "device", id: "dev-1" };
    for (const p of ["property.read", "property.write", "event.emit", "service.execute"] as const) {
      expect(run(base, { principal: dev, permission: p, target: "pump" })).toMatchObject({
        allowed: true,
        reason: "allow",
      });
      expect(run(base, { principal: dev, permission: p, target: "valve" }).allowed).toBe(false);
    }
    expect(run(base, { principal: dev, permission: "event.subscribe", target: "pump" }).allowed).toBe(false);
    const restricted = {
      ...base,
      entries: [entry("deny", { kind: "device", name: "dev-1" }, "event.emit", LEVELS.thing!)],
    };
    expect(run(restricted, { principal: dev, permission: "event.emit", target: "pump" }).reason).toBe("deny");
    expect(run(restricted, { principal: dev, permission: "property.read", target: "pump" }).allowed).toBe(true);
  });

  it("access - a device never holds design-time or device permissions, whatever its groups hold", () => {
    const dev: AccessPrincipal = { kind: "device", id: "dev-1", groups: ["Administrators"] };
    const m: TestModel = {
      ...base,
      groups: { ...base.groups, Administrators: ["device:dev-1"] },
      entries: [
        entry("allow", { kind: "group", name: "Devices" }, "update", LEVELS.collection!),
        entry("allow", { kind: "group", name: "Devices" }, "tunnel.open", {
          level: "collection",
          collection: "devices",
        }),
      ],
    };
    for (const p of ["create", "read", "update", "delete"] as const) {
      expect(run(m, { principal: dev, permission: p, target: "pump" }).reason).toBe("device-excluded");
    }
    expect(run(m, { principal: dev, permission: "tunnel.open", target: "dev-2" }).reason).toBe("device-excluded");
    // Not an administrator either: no implicit Allow on other Things.
    expect(run(m, { principal: dev, permission: "property.read", target: "valve" }).allowed).toBe(false);
    expect(new AccessEngine({ load: () => snapshot(m) }).isAdministrator(dev)).toBe(false);
  });

  it("access - Administrators hold every permission unless a Deny applies; even on names that do not exist; unknown principals and Things are denied to others", () => {
    const m: TestModel = { ...base, groups: { ...base.groups, Administrators: ["user:bob"] } };
    const bob: AccessPrincipal = { kind: "operator", id: "bob" };
    for (const p of ACCESS_PERMISSIONS) {
      const target = p.startsWith("file") || p === "tunnel.open" ? "dev-1" : "pump";
      expect(run(m, { principal: bob, permission: p, target }).allowed, p).toBe(true);
    }
    const denied = { ...m, entries: [entry("deny", { kind: "user", name: "bob" }, "property.write", LEVELS.thing!)] };
    expect(run(denied, { principal: bob, permission: "property.write", target: "pump" }).reason).toBe("deny");
    expect(
      run(m, { principal: { kind: "operator", id: "ghost" }, permission: "property.read", target: "pump" }).reason,
    ).toBe("unknown-principal");
    expect(run(m, { principal: alice, permission: "property.read", target: "nope" }).reason).toBe("not-found");
    // An external Administrators group counts like a stored one, for operators.
    expect(
      run(base, { principal: { ...alice, groups: ["Administrators"] }, permission: "property.write", target: "pump" })
        .allowed,
    ).toBe(true);
  });

  describe("access - templates and design time", () => {
    const T: Record<string, Level> = {
      templates: { level: "collection", collection: "templates" },
      "template:pumps": { level: "template", template: "pumps" },
      "template:valves": { level: "template", template: "valves" },
      things: { level: "collection", collection: "things" },
      "instances:pumps": { level: "instances", template: "pumps" },
      "thing:pump": { level: "thing", thing: "pump" },
    };
    // Design-time requests and the levels that cover each (by hand).
    const DESIGN: {
      name: string;
      req: Omit<AccessRequest, "principal">;
      entity: "thing" | "template";
      covered: string[];
    }[] = [
      {
        name: "read template pumps",
        req: { permission: "read", target: "pumps" },
        entity: "template",
        covered: ["templates", "template:pumps"],
      },
      {
        name: "update template pumps",
        req: { permission: "update", target: "pumps" },
        entity: "template",
        covered: ["templates", "template:pumps"],
      },
      {
        name: "delete template valves",
        req: { permission: "delete", target: "valves" },
        entity: "template",
        covered: ["templates", "template:valves"],
      },
      {
        name: "create a template",
        req: { permission: "create", target: "new" },
        entity: "template",
        covered: ["templates"],
      },
      {
        name: "update Thing pump",
        req: { permission: "update", target: "pump" },
        entity: "thing",
        covered: ["things", "instances:pumps", "thing:pump"],
      },
      {
        name: "delete Thing valve",
        req: { permission: "delete", target: "valve" },
        entity: "thing",
        covered: ["things"],
      },
      {
        name: "create a Thing from pumps",
        req: { permission: "create", target: "p2", template: "pumps" },
        entity: "thing",
        covered: ["things", "instances:pumps"],
      },
      {
        name: "create a Thing from none",
        req: { permission: "create", target: "p2" },
        entity: "thing",
        covered: ["things"],
      },
    ];
    for (const [levelName, level] of Object.entries(T)) {
      for (const effect of ["allow", "deny"] as const) {
        for (const d of DESIGN) {
          const covered = d.covered.includes(levelName);
          const expected = effect === "allow" && covered;
          it(`access - design time: ${effect} ${d.req.permission}@${levelName}: ${d.name} is ${expected ? "allowed" : "denied"}`, () => {
            const m = {
              ...base,
              entries: [entry(effect, { kind: "group", name: "Operators" }, d.req.permission, level)],
            };
            const r = run(m, { principal: alice, ...d.req }, d.entity);
            expect(r.allowed).toBe(expected);
            expect(r.reason).toBe(covered ? effect : "default");
            if (covered) expect(r.entries.map((e) => e.target)).toEqual([level]);
          });
        }
      }
    }

    it("access - template: a Deny at the instance level beats an Allow on the Thing and on the collection", () => {
      const m = {
        ...base,
        entries: [
          entry("allow", { kind: "user", name: "alice" }, "property.write", T["thing:pump"]!),
          entry("allow", { kind: "user", name: "alice" }, "property.write", T.things!),
          entry("deny", { kind: "group", name: "Operators" }, "property.write", T["instances:pumps"]!),
        ],
      };
      const d = run(m, { principal: alice, permission: "property.write", target: "pump", member: "speed" });
      expect(d).toMatchObject({ allowed: false, reason: "deny" });
      expect(d.entries.map((e) => e.target)).toEqual([T["instances:pumps"]]);
      // valve is made from no template: the instance Deny does not reach it.
      expect(run(m, { principal: alice, permission: "property.write", target: "valve" }).allowed).toBe(true);
    });

    it("access - template: an unknown or invisible template is not found / invisible, before any permission", () => {
      const m: TestModel = {
        ...base,
        entries: [entry("allow", { kind: "user", name: "alice" }, "read", T.templates!)],
        units: { "acme/acme": { parent: null, members: ["user:alice"] }, "other/other": { parent: null, members: [] } },
        visibility: { "template:pumps": ["acme/acme"], "template:valves": ["other/other"] },
      };
      const read = (target: string) => run(m, { principal: alice, permission: "read", target }, "template");
      expect(read("pumps")).toMatchObject({ allowed: true, reason: "allow" });
      expect(read("valves")).toMatchObject({ allowed: false, reason: "invisible", entries: [] });
      expect(read("nope")).toMatchObject({ allowed: false, reason: "not-found" });
      const create = (template: string) =>
        run(
          { ...m, entries: [entry("allow", { kind: "user", name: "alice" }, "create", T.things!)] },
          { principal: alice, permission: "create", target: "p9", template },
          "thing",
        );
      expect(create("pumps").allowed).toBe(true);
      expect(create("valves").reason).toBe("invisible");
      expect(create("nope").reason).toBe("not-found");
      const engine = new AccessEngine({ load: () => snapshot(m) });
      expect(engine.visible(alice, "template", "pumps")).toBe(true);
      expect(engine.visible(alice, "template", "valves")).toBe(false);
    });

    it("access - template: a device never holds design-time permissions on templates or their instances", () => {
      const dev: AccessPrincipal = { kind: "device", id: "dev-1" };
      const m = {
        ...base,
        entries: [entry("allow", { kind: "group", name: "Devices" }, "update", T["instances:pumps"]!)],
      };
      for (const p of ["create", "read", "update", "delete"] as const) {
        expect(run(m, { principal: dev, permission: p, target: "pumps" }, "template").reason).toBe("device-excluded");
        expect(run(m, { principal: dev, permission: p, target: "pump" }, "thing").reason).toBe("device-excluded");
      }
    });
  });

  it("access - a disabled device holds nothing", () => {
    const m = { ...base, disabled: ["dev-1"] };
    expect(
      run(m, { principal: { kind: "device", id: "dev-1" }, permission: "property.read", target: "pump" }).reason,
    ).toBe("disabled");
  });

  describe("access - visibility", () => {
    const org: TestModel = {
      ...base,
      users: ["alice", "bob", "carol", "dave"],
      groups: { ...base.groups, Operators: ["user:alice"], Shift: ["user:dave"] },
      units: {
        "acme/acme": { parent: null, members: ["user:carol"] },
        "acme/plant": { parent: "acme/acme", members: [] },
        "acme/line": { parent: "acme/plant", members: ["user:alice", "group:Shift"] },
        "other/other": { parent: null, members: ["user:bob"] },
      },
      visibility: { "thing:pump": ["acme/line"] },
      entries: [
        entry("allow", { kind: "group", name: "Operators" }, "property.read", LEVELS.collection!),
        entry("allow", { kind: "user", name: "bob" }, "property.read", LEVELS.collection!),
        entry("allow", { kind: "user", name: "carol" }, "property.read", LEVELS.collection!),
        entry("allow", { kind: "group", name: "Shift" }, "property.read", LEVELS.collection!),
      ],
    };
    const read = (id: string, target: string) =>
      run(org, { principal: { kind: "operator", id }, permission: "property.read", target });

    it("access - visibility: members of the unit and of its ancestors see the Thing; others do not, before any permission", () => {
      expect(read("alice", "pump")).toMatchObject({ allowed: true });
      expect(read("dave", "pump")).toMatchObject({ allowed: true }); // through group Shift
      expect(read("carol", "pump")).toMatchObject({ allowed: true }); // root unit, above line
      expect(read("bob", "pump")).toMatchObject({ allowed: false, reason: "invisible", entries: [] });
      expect(read("alice", "valve")).toMatchObject({ allowed: false, reason: "invisible" }); // visible to no unit
    });

    it("access - visibility: a device's visibility covers its Things; a device sees its own; no organization means all visible", () => {
      const m = { ...org, visibility: { "device:dev-2": ["other/other"] } };
      const bob: AccessPrincipal = { kind: "operator", id: "bob" };
      expect(run(m, { principal: bob, permission: "property.read", target: "valve" }).allowed).toBe(true);
      expect(
        run(m, { principal: { kind: "device", id: "dev-1" }, permission: "property.read", target: "pump" }).allowed,
      ).toBe(true);
      const engine = new AccessEngine({ load: () => snapshot(m) });
      expect(engine.visible(bob, "device", "dev-2")).toBe(true);
      expect(engine.visible(bob, "device", "dev-1")).toBe(false);
      expect(engine.visible(bob, "thing", "nope")).toBe(false);
      const flat = { ...org, units: {} };
      expect(run(flat, { principal: bob, permission: "property.read", target: "pump" }).allowed).toBe(true);
    });
  });

  it("access - the engine's cache answers from the model it loaded until invalidated", () => {
    let m: TestModel = {
      ...base,
      entries: [entry("allow", { kind: "user", name: "alice" }, "property.read", LEVELS.thing!)],
    };
    let loads = 0;
    const engine = new AccessEngine({ load: () => (loads++, snapshot(m)) });
    const req = { principal: alice, permission: "property.read" as const, target: "pump" };
    expect(engine.allows(req)).toBe(true);
    m = {
      ...m,
      entries: [
        ...m.entries!,
        entry("deny", { kind: "group", name: "Operators" }, "property.read", LEVELS.collection!),
      ],
    };
    expect(engine.allows(req)).toBe(true);
    expect(loads).toBe(1);
    engine.invalidate();
    expect(engine.allows(req)).toBe(false);
  });

  describe("access - properties over random models", () => {
    const users = ["u0", "u1", "u2"];
    const groups = ["g0", "g1", "g2"];
    const things = { t0: "d0", t1: "d0", t2: "d1" } as Record<string, string>;
    const templateOf: Record<string, string> = { t0: "T0", t1: "T0", t2: "T1" };
    const members = ["m0", "m1"];
    const principalArb = fc.oneof(
      fc.record({ kind: fc.constant("operator" as const), id: fc.constantFrom(...users), groups: fc.subarray(groups) }),
      fc.record({ kind: fc.constant("device" as const), id: fc.constantFrom("d0", "d1") }),
    );
    const levelArb: fc.Arbitrary<Level> = fc.oneof(
      fc.constant<Level>({ level: "collection", collection: "things" }),
      fc.constantFrom("T0", "T1").map((t): Level => ({ level: "instances", template: t })),
      fc.constantFrom(...Object.keys(things)).map((t): Level => ({ level: "thing", thing: t })),
      fc
        .tuple(fc.constantFrom(...Object.keys(things)), fc.constantFrom(...members))
        .map(([t, m]): Level => ({ level: "member", thing: t, member: m })),
    );
    const subjectArb: fc.Arbitrary<Subject> = fc.oneof(
      fc.constantFrom(...users).map((n): Subject => ({ kind: "user", name: n })),
      fc.constantFrom("d0", "d1").map((n): Subject => ({ kind: "device", name: n })),
      fc.constantFrom(...groups, "Administrators").map((n): Subject => ({ kind: "group", name: n })),
    );
    const permissionArb = fc.constantFrom<AccessPermission>(...THING_RUNTIME_PERMISSIONS, "read", "update");
    const entryArb = fc.record({
      effect: fc.constantFrom("allow" as const, "deny" as const),
      subject: subjectArb,
      permission: permissionArb,
      target: levelArb,
    });
    const modelArb = fc.record({
      entries: fc.array(entryArb, { maxLength: 12 }),
      memberships: fc.array(
        fc.tuple(
          fc.constantFrom(...groups, "Administrators"),
          fc.constantFrom(...users.map((u) => `user:${u}`), "device:d0", "device:d1"),
        ),
      ),
    });
    const requestArb = fc.record({
      principal: principalArb,
      permission: permissionArb,
      target: fc.constantFrom(...Object.keys(things)),
      member: fc.option(fc.constantFrom(...members), { nil: undefined }),
    });
    const toModel = (m: { entries: TestModel["entries"]; memberships: [string, string][] }): TestModel => {
      const g: Record<string, string[]> = { Administrators: [], g0: [], g1: [], g2: [] };
      for (const [group, member] of m.memberships) g[group]!.push(member);
      return {
        users,
        devices: ["d0", "d1"],
        things,
        groups: g,
        entries: m.entries ?? [],
        templates: { T0: ["t0", "t1"], T1: ["t2"] },
      };
    };
    // The oracle of "applies", independent of the engine's index.
    const covers = (l: Level, r: AccessRequest) =>
      l.level === "collection" ||
      (l.level === "instances" && templateOf[r.target] === l.template) ||
      (l.level === "thing" && l.thing === r.target) ||
      (l.level === "member" && l.thing === r.target && l.member === r.member);
    const holds = (s: Subject, r: AccessRequest, model: TestModel) => {
      const key = r.principal.kind === "device" ? `device:${r.principal.id}` : `user:${r.principal.id}`;
      if (s.kind !== "group") return `${s.kind}:${s.name}` === key;
      if (r.principal.kind === "device" && s.name === "Administrators") return false;
      return (model.groups![s.name] ?? []).includes(key) || (r.principal.groups ?? []).includes(s.name);
    };

    it("access - a Deny that applies anywhere always denies", () => {
      fc.assert(
        fc.property(modelArb, requestArb, levelArb, fc.boolean(), (raw, req, denyLevel, byGroup) => {
          const model = toModel(raw);
          const request = req as AccessRequest;
          // Add one Deny that applies to the request: at any level covering it, for the principal or a group it is in.
          fc.pre(covers(denyLevel, request));
          const subject: Subject =
            byGroup && request.principal.kind === "operator" && (request.principal.groups ?? []).length > 0
              ? { kind: "group", name: request.principal.groups![0]! }
              : request.principal.kind === "device"
                ? { kind: "device", name: request.principal.id }
                : { kind: "user", name: request.principal.id };
          model.entries!.push(entry("deny", subject, request.permission, denyLevel));
          expect(run(model, request).allowed).toBe(false);
          // And the engine agrees with the oracle on the model as generated.
          const plain = toModel(raw);
          const d = run(plain, request);
          const anyDeny = plain.entries!.some(
            (e) =>
              e.effect === "deny" &&
              e.permission === request.permission &&
              covers(e.target, request) &&
              holds(e.subject, request, plain),
          );
          if (anyDeny) expect(d.allowed).toBe(false);
        }),
        { numRuns: 500, endOnFailure: true },
      );
    });

    it("access - removing every entry (stored and derived) always denies", () => {
      fc.assert(
        fc.property(modelArb, requestArb, (raw, req) => {
          const model = toModel(raw);
          const request = req as AccessRequest;
          model.entries = [];
          // Derived entries gone too: no Thing assigned to the asking device, no Administrators.
          model.groups = { ...model.groups, Administrators: [] };
          const principal = {
            ...request.principal,
            groups: (request.principal.groups ?? []).filter((g) => g !== "Administrators"),
          };
          model.things = Object.fromEntries(Object.keys(things).map((t) => [t, "d-other"]));
          model.devices = [...model.devices!, "d-other"];
          expect(run(model, { ...request, principal }).allowed).toBe(false);
        }),
        { numRuns: 500, endOnFailure: true },
      );
    });
  });
});
