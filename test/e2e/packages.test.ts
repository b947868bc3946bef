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
  for (const name of ["protocol", "sdk", "server", "operator"]) {
    it(`packages - @outpost/${name} ships its compiled entry points and no tests or sources`, () => {
      const files = packedFiles(`@outpost/${name}`);
      const pkg = JSON.parse(readFileSync(join(repoRoot, "packages", name, "package.json"), "utf8"));
      for (const target of Object.values(pkg.exports as Record<string, { types: string; default: string }>)) {
        expect(files).toContain(target.default.replace(/^\.\//, ""));
        expect(files).toContain(target.types.replace(/^\.\//, ""));
      }
      expect(files.filter((f) => f.startsWith("test/") || f.endsWith(".test.js") || f.startsWith("src/"))).toEqual([]);
    });

    it(`packages - @outpost/${name} ships a README whose links work inside the tarball`, () => {
      expect(packedFiles(`@outpost/${name}`)).toContain("README.md");
      const readme = readFileSync(join(repoRoot, "packages", name, "README.md"), "utf8");
      // Nothing outside the package directory is in the tarball: a relative link out of it is broken.
      expect(readme.match(/\]\((?!https?:|#)[^)]*\.\.\/[^)]*\)/g) ?? []).toEqual([]);
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

  it("packages - the packed @outpost/operator tarball installs in an empty directory and its CLI runs", () => {
    const dir = mkdtempSync(join(tmpdir(), "outpost-operator-install-"));
    try {
      const pack = (w: string) =>
        (
          JSON.parse(
            execFileSync("npm", ["pack", "--json", "--pack-destination", dir, "-w", w], {
              cwd: repoRoot,
              encoding: "utf8",
              stdio: ["ignore", "pipe", "ignore"],
            }),
          ) as Array<{ filename: string }>
        )[0]!.filename;
      const tarballs = ["@outpost/protocol", "@outpost/operator"].map((w) => join(dir, pack(w)));
      const app = join(dir, "app");
      execFileSync("mkdir", [app]);
      writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
      execFileSync("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", ...tarballs], {
        cwd: app,
        stdio: "ignore",
        timeout: 120_000,
      });
      const help = spawnSync(join(app, "node_modules", ".bin", "outpost"), ["--help"], { encoding: "utf8" });
      expect(help.status).toBe(0);
      expect(help.stdout).toMatch(/login/);
      expect(help.stdout).toMatch(/watch/);
      const noLogin = spawnSync(join(app, "node_modules", ".bin", "outpost"), ["things"], {
        encoding: "utf8",
        env: { PATH: process.env.PATH, OUTPOST_CONFIG_DIR: join(dir, "config") },
      });
      expect(noLogin.status).toBe(2);
      expect(noLogin.stderr).toMatch(/OUTPOST_INVALID_CONFIG/);
      writeFileSync(
        join(app, "use.mjs"),
        'import { OperatorClient } from "@outpost/operator";\nconsole.log(typeof new OperatorClient({ url: "https://127.0.0.1:1" }).listThings);\n',
      );
      expect(spawnSync(process.execPath, ["use.mjs"], { cwd: app, encoding: "utf8" }).stdout).toBe("function\n");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);
});
