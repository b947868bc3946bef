import { readFileSync } from "node:fs";
import { join } from "node:path";
import semver from "semver";
import { describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "..", "..");
const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { engines: { node: string } };
const lock = JSON.parse(readFileSync(join(root, "package-lock.json"), "utf8")) as {
  packages: Record<string, { version?: string; dev?: boolean; engines?: { node?: string } | string[] }>;
};

/** Locked packages (of the runtime only, or all) whose declared Node range leaves out `node`. */
function unsupported(node: string, runtimeOnly: boolean): string[] {
  const out: string[] = [];
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (runtimeOnly && entry.dev) continue;
    const range = Array.isArray(entry.engines) ? undefined : entry.engines?.node;
    if (range && !semver.satisfies(node, range)) out.push(`${path}@${entry.version ?? "?"} needs node ${range}`);
  }
  return out;
}

describe("locked dependencies", () => {
  it("engines - every package the SDK and server run with supports the oldest Node the project declares", () => {
    const oldest = semver.minVersion(manifest.engines.node)!;
    expect(oldest.major).toBe(20);
    expect(unsupported(oldest.version, true)).toEqual([]);
  });

  it("engines - every locked package, build tools included, supports the Node this check runs on", () => {
    expect(unsupported(process.versions.node, false)).toEqual([]);
  });
});
