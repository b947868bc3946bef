import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { operatorRequest } from "../helpers/operator-client.js";
import { ServerProcess, serverCli } from "../helpers/server-process.js";
import { waitUntil } from "../helpers/wait.js";

/** A `outpost-server serve` process with its own flags and environment, output collected. */
interface Serve {
  child: ChildProcess;
  /** Standard output (everything, when run on a terminal). */
  out(): string;
  operatorUrl: string;
  stop(): Promise<void>;
}

// An ANSI escape sequence (ESC [).
const ANSI = new RegExp(`${String.fromCharCode(27)}\\[`);

async function startServe(dataDir: string, flags: string[], env: Record<string, string>, tty = false): Promise<Serve> {
  const args = [serverCli, "serve", "--data", dataDir, "--edge-port", "0", "--operator-port", "0", ...flags];
  const baseEnv = { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...env };
  // On a terminal: util-linux script(1) gives the server a pseudo-terminal as standard output.
  const child = tty
    ? spawn("script", ["-qfec", [process.execPath, ...args].map((a) => `'${a}'`).join(" "), "/dev/null"], {
        env: baseEnv,
        stdio: ["pipe", "pipe", "pipe"],
      })
    : spawn(process.execPath, args, { env: baseEnv, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  const operatorUrl = await waitUntil(
    "the server to start",
    () => {
      if (child.exitCode !== null) throw new Error(`serve exited ${child.exitCode}: ${stderr}${stdout}`);
      return /operator API: (https:\/\/\S+)/.exec(stderr + stdout)?.[1];
    },
    { timeoutMs: 20_000 },
  );
  return {
    child,
    out: () => stdout,
    operatorUrl,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}

describe("server logs of a real outpost-server serve process", () => {
  let server: ServerProcess;
  let running: Serve | undefined;

  beforeAll(() => {
    server = ServerProcess.init();
  });

  afterAll(async () => {
    await running?.stop();
    await server?.dispose();
  });

  const get = (s: Serve, path: string, token = server.adminToken) =>
    operatorRequest(s.operatorUrl, server.caPem, token, "GET", path);

  it("logs - --log-format json: every line is JSON; the access log names route, status, duration, operator, request id, never the token", async () => {
    running = await startServe(server.dataDir, ["--log-format", "json"], {});
    const ok = await get(running, "/api/things/no-such-thing/properties?name=query-marker");
    expect(ok.status).toBe(404);
    expect((await get(running, "/api/things")).status).toBe(200);
    expect((await get(running, "/api/things", `${server.adminToken.slice(0, -4)}abcd`)).status).toBe(401);
    const lines = await waitUntil("three access log lines", () => {
      const parsed = running!
        .out()
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      return parsed.filter((l) => l.route !== undefined).length >= 3 ? parsed : undefined;
    });
    expect(lines.some((l) => l.msg === "outpost server started")).toBe(true);
    const access = lines.filter((l) => l.route !== undefined);
    expect(access[0]).toMatchObject({
      level: 30,
      method: "GET",
      route: "/api/things/:thing/properties",
      status: 404,
      operator: "admin",
    });
    expect(access[1]).toMatchObject({ method: "GET", route: "/api/things", status: 200, operator: "admin" });
    expect(access[2]).toMatchObject({ route: "/api/things", status: 401 });
    expect(access[2]!.operator).toBeUndefined();
    for (const a of access) {
      expect(typeof a.durationMs).toBe("number");
      expect(a.reqId).toMatch(/^[0-9a-f-]{36}$/);
    }
    expect(new Set(access.map((a) => a.reqId)).size).toBe(3);
    const text = running.out();
    // opt_<16-character id>_<secret>; the secret may itself contain "_".
    expect(text).not.toContain(server.adminToken.slice("opt_".length + 16 + 1));
    expect(text).not.toContain("query-marker");
    expect(text).not.toMatch(/authorization|bearer/i);
    await running.stop();
    running = undefined;
  });

  it("logs - --log-format pretty: readable lines, no JSON; no colour when NO_COLOR even on a terminal", async () => {
    running = await startServe(server.dataDir, ["--log-format", "pretty"], { NO_COLOR: "1" });
    expect((await get(running, "/api/things")).status).toBe(200);
    const text = await waitUntil("the access log line", () =>
      /GET \/api\/things 200 [\d.]+ ms admin [0-9a-f-]{36}/.test(running!.out()) ? running!.out() : undefined,
    );
    expect(text).toMatch(/^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\] INFO: outpost server started$/m);
    expect(text).not.toMatch(ANSI);
    for (const line of text.split("\n").filter(Boolean)) expect(line.trimStart().startsWith("{")).toBe(false);
    await running.stop();

    // A terminal gets the pretty format by default, coloured unless NO_COLOR is set.
    running = await startServe(server.dataDir, [], { NO_COLOR: "1" }, true);
    expect((await get(running, "/api/things")).status).toBe(200);
    const plain = await waitUntil("the access log line on a terminal", () =>
      /GET \/api\/things 200/.test(running!.out()) ? running!.out() : undefined,
    );
    expect(plain).toMatch(/INFO: outpost server started/);
    expect(plain).not.toMatch(ANSI);
    await running.stop();

    running = await startServe(server.dataDir, [], {}, true);
    const coloured = await waitUntil("a coloured line on a terminal", () =>
      /outpost server started/.test(running!.out()) ? running!.out() : undefined,
    );
    expect(coloured).toMatch(ANSI);
    await running.stop();
    running = undefined;
  });

  it("logs - --log-level warn hides info lines, access log included; OUTPOST_LOG_LEVEL does the same", async () => {
    for (const [flags, env] of [
      [["--log-level", "warn", "--log-format", "json"], {}],
      [["--log-format", "json"], { OUTPOST_LOG_LEVEL: "warn" }],
    ] as const) {
      running = await startServe(server.dataDir, [...flags], { ...env });
      expect((await get(running, "/api/things")).status).toBe(200);
      // Give a line that should not come the time to come.
      await new Promise((r) => setTimeout(r, 300));
      await running.stop();
      const lines = running
        .out()
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { level: number });
      expect(lines.filter((l) => l.level < 40)).toEqual([]);
    }
    running = undefined;
  });

  it("logs - an unknown --log-format or --log-level is refused naming the flag", async () => {
    for (const [flags, want] of [
      [["--log-format", "xml"], /--log-format must be one of json, pretty/],
      [["--log-level", "loud"], /--log-level must be one of trace, debug, info, warn, error, fatal, silent/],
    ] as const) {
      const child = spawn(process.execPath, [serverCli, "serve", "--data", server.dataDir, ...flags], {
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stderr = "";
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      const code = await new Promise<number | null>((r) => child.once("exit", (c) => r(c)));
      expect(code).toBe(1);
      expect(stderr).toMatch(want);
    }
    expect(readFileSync(join(server.dataDir, "config.json"), "utf8")).toContain('"logLevel"');
  });
});
