// The access model the access benchmarks decide over (access-cost.mjs, access-decision.mjs): 20
// operators in a group, an organization with two units and the visibility of every device and
// Thing granted to one of them, and per device five entries (group, Thing and member levels,
// Allow and Deny) besides two collection entries; several apply to every update of a device.
import { SqliteRegistry } from "@outpost/server";

/** Adds the model to the registry at `path`, over `devices` ({ id, thing }) that exist. */
export function addModel(path, devices) {
  const registry = new SqliteRegistry(path);
  try {
    registry.transaction(() => {
      const a = registry.access;
      a.createGroup("line-operators");
      for (let i = 0; i < 20; i++) {
        registry.createOperator(`op-${i}`, false);
        a.addMember("line-operators", { kind: "user", name: `op-${i}` });
      }
      a.createGroup("gateways");
      a.createOrganization("bench");
      a.createUnit("bench", "site");
      a.createUnit("bench", "line", "site");
      a.addUnitMember("bench", "line", { kind: "group", name: "line-operators" });
      const things = { level: "collection", collection: "things" };
      a.addEntry("allow", { kind: "group", name: "Devices" }, "property.write", things);
      a.addEntry("allow", { kind: "group", name: "line-operators" }, "property.read", things);
      for (const d of devices) {
        a.addMember("gateways", { kind: "device", name: d.id });
        a.grantVisibility("bench", "line", "device", d.id);
        a.grantVisibility("bench", "line", "thing", d.thing);
        const thing = { level: "thing", thing: d.thing };
        a.addEntry("allow", { kind: "group", name: "gateways" }, "property.write", thing);
        a.addEntry("allow", { kind: "device", name: d.id }, "property.write", {
          ...thing,
          level: "member",
          member: "value",
        });
        a.addEntry("deny", { kind: "device", name: d.id }, "event.emit", {
          ...thing,
          level: "member",
          member: "alarm",
        });
        a.addEntry("deny", { kind: "group", name: "line-operators" }, "property.write", thing);
      }
    });
  } finally {
    registry.close();
  }
}
