import { join } from "node:path";
import { ErrorCode, OutpostError } from "@outpost/protocol";
import type { EmsPaths } from "./paths.js";
import { type EmsConfigData, type IdentityConfigData, IDENTITY_NAME_PATTERN } from "./schema.js";

/** The name of the identity whose fields sit at the top level of the configuration. */
export const DEFAULT_IDENTITY = "default";

/** One device identity as the daemon and the CLI see it. */
export interface IdentityView {
  name: string;
  /** Prefix of its config keys: "" for the default identity, `identities.NAME.` otherwise. */
  prefix: string;
  data: IdentityConfigData;
  /** Its durable queue directory and its audit log: each identity has its own. */
  queueDir: string;
  audit: string;
}

/** The config key of `field` of identity `name` (`tls.key` → `identities.gw2.tls.key`). */
export function identityKey(name: string | undefined, field: string): string {
  return name === undefined || name === DEFAULT_IDENTITY ? field : `identities.${name}.${field}`;
}

/** The field name inside its identity (`identities.gw2.tls.key` → `tls.key`). */
export function fieldOf(key: string): string {
  const m = /^identities\.[^.]+\.(.+)$/.exec(key);
  return m ? m[1]! : key;
}

/** Refuses a name that cannot be an identity (OUTPOST_INVALID_CONFIG). */
export function checkIdentityName(name: string): void {
  if (!new RegExp(IDENTITY_NAME_PATTERN).test(name)) {
    throw new OutpostError(
      ErrorCode.InvalidConfig,
      `identity name ${JSON.stringify(name)}: use 1-63 lower-case letters, digits, "-" or "_", starting with a letter or digit`,
    );
  }
}

/** Every identity of the configuration, the default first. */
export function identitiesOf(data: EmsConfigData, paths: EmsPaths): IdentityView[] {
  const out: IdentityView[] = [
    { name: DEFAULT_IDENTITY, prefix: "", data: normalise(data), queueDir: paths.queueDir, audit: paths.audit },
  ];
  for (const [name, d] of Object.entries(data.identities ?? {})) {
    const dir = join(paths.dir, "identities", name);
    out.push({
      name,
      prefix: `identities.${name}.`,
      data: normalise(d),
      queueDir: join(dir, "queue"),
      audit: join(dir, "audit.log"),
    });
  }
  return out;
}

/** One identity by name; OUTPOST_INVALID_CONFIG naming the known ones when there is none. */
export function identityOf(data: EmsConfigData, paths: EmsPaths, name: string): IdentityView {
  const all = identitiesOf(data, paths);
  const found = all.find((i) => i.name === name);
  if (!found) {
    throw new OutpostError(
      ErrorCode.InvalidConfig,
      `no identity ${JSON.stringify(name)} (identities: ${all.map((i) => i.name).join(", ")})`,
    );
  }
  return found;
}

/**
 * Refuses a configuration in which a Thing is claimed twice (by two identities, or twice by one)
 * or two identities are the same device: the local API routes by Thing, and two connections of
 * one device would take each other's session. OUTPOST_INVALID_CONFIG naming both.
 */
export function checkIdentities(data: EmsConfigData): void {
  const owner = new Map<string, string>();
  const devices = new Map<string, string>();
  const all: Array<[string, IdentityConfigData]> = [[DEFAULT_IDENTITY, data], ...Object.entries(data.identities ?? {})];
  for (const [name, d] of all) {
    for (const t of d.things ?? []) {
      const first = owner.get(t.name);
      if (first !== undefined) {
        throw new OutpostError(
          ErrorCode.InvalidConfig,
          first === name
            ? `Thing ${JSON.stringify(t.name)} is listed twice in the things of identity ${JSON.stringify(name)}`
            : `Thing ${JSON.stringify(t.name)} is claimed by identities ${JSON.stringify(first)} and ${JSON.stringify(name)}: a Thing belongs to exactly one identity (remove it from one of them)`,
        );
      }
      owner.set(t.name, name);
    }
    const id = d.device?.id;
    if (id !== undefined) {
      const first = devices.get(id);
      if (first !== undefined) {
        throw new OutpostError(
          ErrorCode.InvalidConfig,
          `identities ${JSON.stringify(first)} and ${JSON.stringify(name)} are both device ${JSON.stringify(id)}: each identity needs its own device`,
        );
      }
      devices.set(id, name);
    }
  }
}

function normalise(d: Partial<IdentityConfigData>): IdentityConfigData {
  return {
    server: d.server ?? {},
    device: d.device ?? {},
    tls: d.tls ?? {},
    ...(d.appKey !== undefined && { appKey: d.appKey }),
    proxy: d.proxy ?? {},
    things: d.things ?? [],
    tunnels: d.tunnels ?? {},
    files: d.files ?? {},
  };
}
