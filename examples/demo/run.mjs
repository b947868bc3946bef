#!/usr/bin/env node
// The README's main command: a server and one device on localhost with a fresh development PKI,
// then the operator API driven with the outpost CLI to show a property changing and a service call.
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const once = process.argv.includes("--once");
const work = resolve(process.env.OUTPOST_DEMO_DIR ?? join(root, ".demo"));
const serverDir = join(work, "server");
const bundleDir = join(work, "device");
const cli = join(root, "packages", "server", "dist", "cli", "main.js");
const outpostCli = join(root, "packages", "operator", "dist", "cli", "main.js");
// The demo's own profile directory, so the user's real outpost profiles are not touched.
const configDir = join(work, "config");
const deviceScript = join(root, "examples", "device-basic", "device.mjs");
const deviceId = "demo-device-1";
const thing = "thermostat-1";
const children = [];

// Bold headings only on a terminal, and never under NO_COLOR (https://no-color.org).
const bold = process.stdout.isTTY === true && !process.env.NO_COLOR;

function step(text) {
  console.log(bold ? `\n\x1b[1m== ${text}\x1b[0m` : `\n== ${text}`);
}

function runCli(args) {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`outpost-server ${args.join(" ")} failed:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** Starts a child process and resolves with the first stdout JSON line that satisfies `ready`. */
function start(name, args, ready, timeoutMs = 20_000) {
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  child.stderr.on("data", (d) => process.stderr.write(`[${name}] ${d}`));
  return new Promise((resolveReady, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not become ready in ${timeoutMs} ms`)), timeoutMs);
    child.on("exit", (code) => reject(new Error(`${name} exited early with code ${code}`)));
    createInterface({ input: child.stdout }).on("line", (line) => {
      let msg;
      try {
        msg = JSON.parse(line);
      } catch {
        console.log(`[${name}] ${line}`);
        return;
      }
      if (!once || msg.level >= 40) console.log(`[${name}] ${msg.msg ?? line}`);
      if (ready(msg)) {
        clearTimeout(timer);
        resolveReady(msg);
      }
    });
  });
}

/** Runs `outpost <args>` with the demo's profile directory, printing the command and its output. */
function outpost(args, { quiet = false } = {}) {
  if (!quiet) console.log(`$ outpost ${args.map((a) => (/\s|"/.test(a) ? `'${a}'` : a)).join(" ")}`);
  const r = spawnSync(process.execPath, [outpostCli, ...args], {
    encoding: "utf8",
    env: { ...process.env, OUTPOST_CONFIG_DIR: configDir },
  });
  if (!quiet) console.log((r.stdout.trim() || r.stderr.trim()).replace(/^/gm, "  "));
  if (r.status !== 0) {
    if (quiet) return undefined;
    throw new Error(`outpost ${args[0]} failed (exit ${r.status}): ${r.stderr.trim()}`);
  }
  return r.stdout;
}

async function waitFor(label, fn, timeoutMs = 20_000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${label}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function shutdown(code) {
  for (const c of children) if (c.exitCode === null) c.kill("SIGTERM");
  setTimeout(() => process.exit(code), 300).unref();
}

let token = "";
try {
  step("Generating a development PKI, registry and device bundle");
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true, mode: 0o700 });
  const init = runCli(["init", "--data", serverDir]);
  token = /opt_[A-Za-z0-9_-]+/.exec(init)?.[0] ?? "";
  if (!token) throw new Error(`init printed no operator token:\n${init}`);
  runCli(["device", "add", deviceId, "--things", thing, "--out", bundleDir, "--data", serverDir]);
  console.log(`server data:   ${serverDir}`);
  console.log(`device bundle: ${bundleDir} (ca.pem, device.pem, device.key, app-key, device.json)`);

  step("Starting outpost-server");
  const listening = await start(
    "server",
    [cli, "serve", "--data", serverDir, "--edge-port", "0", "--operator-port", "0"],
    (m) => typeof m.edgeUrl === "string" && typeof m.operatorUrl === "string",
  );
  const api = listening.operatorUrl;
  const ca = join(serverDir, "ca", "ca.pem");
  console.log(`edge endpoint: ${listening.edgeUrl}`);
  console.log(`operator API:  ${api}`);

  step(`Starting the demo device ${deviceId} with Thing ${thing}`);
  const deviceFiles = join(work, "device-files");
  mkdirSync(deviceFiles, { recursive: true });
  await start(
    "device",
    [deviceScript, "--bundle", bundleDir, "--url", listening.edgeUrl, "--vdir", `files=${deviceFiles}`],
    (m) => m.status === "connected",
  );

  step("Logging in with the outpost CLI (the token is read from a file, never from the command line)");
  const tokenFile = join(work, "admin.token");
  writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
  outpost(["login", "--server", api, "--ca", ca, "--token-file", tokenFile]);
  outpost(["things"]);

  step("Reading properties");
  const temperature = () => {
    const out = outpost(["get", thing, "temperature", "--json"], { quiet: true });
    return out ? JSON.parse(out).properties.find((p) => p.name === "temperature")?.value : undefined;
  };
  const first = await waitFor("a temperature reading", () => temperature());
  outpost(["get", thing]);
  await waitFor("the temperature to change", () => {
    const now = temperature();
    return now !== undefined && now !== first;
  });
  step("The temperature changed");
  outpost(["get", thing]);

  step("Writing the setpoint property (reaches the device and is confirmed)");
  outpost(["set", thing, "setpoint", "22.5"]);

  step("Calling the device's reset service");
  outpost(["call", thing, "reset", "--param", 'reason="demo"']);

  step("Pushing a file into the device's virtual directory, and pulling it back");
  const hello = join(work, "hello.txt");
  writeFileSync(hello, `hello from the demo at ${new Date().toISOString()}\n`);
  outpost(["files", "push", deviceId, hello, "files/hello.txt"]);
  outpost(["files", "ls", deviceId, "files"]);
  outpost(["files", "pull", deviceId, "files/hello.txt", join(work, "hello-back.txt")]);

  if (once) {
    console.log("\ndemo: ok");
    shutdown(0);
  } else {
    step("Try it yourself");
    console.log(`export OUTPOST_CONFIG_DIR=${configDir}   # the demo's profile (token file: ${tokenFile})`);
    console.log(`alias outpost="node ${outpostCli}"`);
    console.log(`outpost get ${thing}`);
    console.log(`outpost watch --thing ${thing}`);
    console.log("\nServer and device keep running; press Ctrl-C to stop.");
    process.on("SIGINT", () => shutdown(0));
    process.on("SIGTERM", () => shutdown(0));
  }
} catch (err) {
  console.error(`\ndemo failed: ${err instanceof Error ? err.message : String(err)}`);
  shutdown(1);
}
