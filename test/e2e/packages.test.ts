import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { repoRoot } from "../helpers/server-process.js";

interface PackResult {
  files: Array<{ path: string }>;
}

function packedFiles(workspace: string): string[] {
  const out = execFileSync("npm", ["pack", "--dry-run", "--json", "-w", workspace], {
    cwd: repoRoot,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "ignore"],
  });
  return (JSON.parse(out) as PackResult[])[0]!.files.map((f) => f.path);
}

describe("packages - what npm would publish", () => {
  for (const name of ["protocol", "sdk", "server"]) {
    it(`packages - @outpost/${name} ships its compiled entry points and no tests or sources`, () => {
      const files = packedFiles(`@outpost/${name}`);
      const pkg = JSON.parse(readFileSync(join(repoRoot, "packages", name, "package.json"), "utf8"));
      for (const target of Object.values(pkg.exports as Record<string, { types: string; default: string }>)) {
        expect(files).toContain(target.default.replace(/^\.\//, ""));
        expect(files).toContain(target.types.replace(/^\.\//, ""));
      }
      expect(files.filter((f) => f.startsWith("test/") || f.endsWith(".test.js") || f.startsWith("src/"))).toEqual([]);
    });
  }

  it("packages - the compiled entry points load in a plain Node process (no test runner, no TypeScript)", () => {
    const dir = mkdtempSync(join(tmpdir(), "outpost-consumer-"));
    try {
      const script = join(dir, "consumer.mjs");
      const url = (p: string) => new URL(`file://${join(repoRoot, "packages", p)}`).href;
      writeFileSync(
        script,
        [
          `const protocol = await import(${JSON.stringify(url("protocol/dist/index.js"))});`,
          `const sdk = await import(${JSON.stringify(url("sdk/dist/index.js"))});`,
          `const server = await import(${JSON.stringify(url("server/dist/index.js"))});`,
          "const frame = protocol.encodeFrame({ keepAlive: { timestampMs: 1 } });",
          "console.log(JSON.stringify({",
          "  roundTrip: protocol.decodeFrame(frame).keepAlive.timestampMs,",
          "  client: typeof sdk.EdgeClient, start: typeof server.startServer,",
          "}));",
        ].join("\n"),
      );
      const r = spawnSync(process.execPath, [script], { cwd: dir, encoding: "utf8" });
      expect(r.stderr).toBe("");
      expect(JSON.parse(r.stdout)).toEqual({ roundTrip: 1, client: "function", start: "function" });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("packages - the outpost-server bin is executable and answers --help", () => {
    const pkg = JSON.parse(readFileSync(join(repoRoot, "packages", "server", "package.json"), "utf8"));
    const bin = join(repoRoot, "packages", "server", pkg.bin["outpost-server"]);
    expect(readFileSync(bin, "utf8").startsWith("#!/usr/bin/env node")).toBe(true);
    const r = spawnSync(process.execPath, [bin, "--help"], { encoding: "utf8" });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/serve/);
    expect(r.stdout).toMatch(/device/);
  });
});
