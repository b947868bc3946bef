import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repoRoot } from "../helpers/server-process.js";

// A TypeScript project that installed the packed tarballs of @outpost/protocol and @outpost/sdk,
// their runtime dependencies (laid out flat as npm does) and @types/node, and nothing else:
// in particular not @types/ws, which the SDK does not depend on.
const PROGRAM = `
import { EdgeClient, ErrorCode, type OutpostError } from "@outpost/sdk";

const client = new EdgeClient({ url: "wss://gw.example.com:8443", appKey: "opk_x", tls: { ca: "-" } });
client.on("error", (err) => {
  const code: string = err.code;
  const typed: OutpostError = err;
  if (err.code === ErrorCode.QueueOverflow) console.log(code, typed.message);
});
client.on("status", (s) => console.log(s.type));
client.on("queue-overflow", (info) => console.log(info));
// @ts-expect-error a misspelt event name does not type-check
client.on("eror", () => {});
// @ts-expect-error a listener of the wrong shape does not type-check
client.on("status", (s: number) => console.log(s));
client.thing("pump-1").property("rpm", { type: "number" }).set(1500);
`;

describe("packages - types of the packed tarballs", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "outpost-types-"));
    const packs = join(dir, "packs");
    mkdirSync(packs);
    execFileSync("npm", ["pack", "-w", "@outpost/protocol", "-w", "@outpost/sdk", "--pack-destination", packs], {
      cwd: repoRoot,
      stdio: ["ignore", "ignore", "pipe"],
    });
    const modules = join(dir, "node_modules");
    mkdirSync(join(modules, "@outpost"), { recursive: true });
    mkdirSync(join(modules, "@types"));
    for (const tgz of readdirSync(packs)) {
      const name = /^outpost-(protocol|sdk)-/.exec(tgz)?.[1];
      if (name === undefined) continue;
      const out = join(packs, name);
      mkdirSync(out);
      execFileSync("tar", ["-xzf", join(packs, tgz), "-C", out]);
      renameSync(join(out, "package"), join(modules, "@outpost", name));
    }
    for (const dep of ["ws", "protobufjs", "long", "@types/node"]) {
      symlinkSync(join(repoRoot, "node_modules", dep), join(modules, dep), "dir");
    }
    writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
    writeFileSync(
      join(dir, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          noEmit: true,
          skipLibCheck: false,
          module: "nodenext",
          moduleResolution: "nodenext",
          target: "es2022",
          types: ["node"],
        },
        files: ["main.ts"],
      }),
    );
    writeFileSync(join(dir, "main.ts"), PROGRAM);
  }, 120_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("packages - a strict program type-checks against the packed SDK without skipLibCheck or @types/ws", () => {
    const tsc = join(repoRoot, "node_modules", "typescript", "bin", "tsc");
    const r = spawnSync(process.execPath, [tsc, "-p", dir], { cwd: dir, encoding: "utf8", timeout: 120_000 });
    expect(r.stdout + r.stderr).toBe("");
    expect(r.status).toBe(0);
  }, 150_000);
});
