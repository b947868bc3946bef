import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { EMS_VERSION } from "../src/version.js";

const pkgUrl = new URL("../package.json", import.meta.url);
const bin = fileURLToPath(new URL("../dist/bin.js", import.meta.url));

describe("ems cli - version", () => {
  it("EMS_VERSION matches package.json", () => {
    const pkg = JSON.parse(readFileSync(pkgUrl, "utf8")) as { version: string };
    expect(EMS_VERSION).toBe(pkg.version);
  });

  it("outpost-ems --version prints it and exits 0", () => {
    expect(execFileSync(process.execPath, [bin, "--version"], { encoding: "utf8" }).trim()).toBe(EMS_VERSION);
  });
});
