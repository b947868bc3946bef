import type { PropertyState } from "../src/registry/types.js";

/** A good-quality value of property `name` of Thing "pump", for registry tests. */
export const pumpValue = (name: string, v: number): PropertyState => ({
  thing: "pump",
  name,
  value: v,
  timestampMs: 1,
  quality: "good",
  receivedAt: 1,
});
