import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { repoRoot } from "../helpers/server-process.js";

describe("demo - the README's main command", () => {
  it("demo - runs end to end: server, device, property change and service call through the outpost CLI", () => {
    const dir = mkdtempSync(join(tmpdir(), "outpost-demo-"));
    try {
      const r = spawnSync(process.execPath, [join(repoRoot, "examples", "demo", "run.mjs"), "--once"], {
        encoding: "utf8",
        timeout: 90_000,
        env: { ...process.env, OUTPOST_DEMO_DIR: dir },
      });
      const out = `${r.stdout}\n${r.stderr}`;
      expect(out).toContain("The temperature changed");
      expect(out).toMatch(/\$ outpost call thermostat-1 reset --param 'reason="demo"'/);
      expect(out).toMatch(/\$ outpost set thermostat-1 setpoint 22\.5\n {2}thermostat-1 setpoint = 22\.5/);
      expect(out).toMatch(/pushed hello\.txt to [\w-]+:files\/hello\.txt/);
      expect(out).toMatch(/pulled [\w-]+:files\/hello\.txt/);
      expect(out).toContain("demo: ok");
      // Piped output carries no terminal codes, and --once offers no commands for the server it stops.
      expect(out).not.toContain("\x1b[");
      expect(out).not.toContain("Try it yourself");
      expect(r.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
