import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Conf from "conf";
import { afterEach, describe, expect, it } from "vitest";
import { createDataKeyFile, loadDataKey } from "../src/config/data-key.js";
import { EmsConfig, ENCRYPTED_PLACEHOLDER } from "../src/config/ems-config.js";
import { resolveDir } from "../src/config/paths.js";
import { CONFIG_SCHEMA } from "../src/config/schema.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function freshDir(): string {
  const d = mkdtempSync(join(tmpdir(), "ems-config-"));
  dirs.push(d);
  createDataKeyFile(d);
  return d;
}

describe("ems config - encrypted secrets", () => {
  it("secret fields are stored encrypted, listed as <encrypted>, and read back", () => {
    const dir = freshDir();
    const c = EmsConfig.open(dir, { create: true });
    c.set("appKey", "opk_secretvalue123");
    c.set("server.url", "wss://h:1/edge");
    c.set("device.id", "shown-in-clear", { secret: true });
    const text = readFileSync(join(dir, "config.json"), "utf8");
    expect(text).not.toContain("opk_secretvalue123");
    expect(text).not.toContain("shown-in-clear");
    expect(Object.fromEntries(c.list())).toMatchObject({
      appKey: ENCRYPTED_PLACEHOLDER,
      "server.url": "wss://h:1/edge",
    });
    expect(EmsConfig.open(dir).secret("appKey")).toBe("opk_secretvalue123");
    expect(EmsConfig.open(dir).get("device.id", { reveal: true })).toBe("shown-in-clear");
    expect(statSync(join(dir, "config.json")).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, "data.key")).mode & 0o777).toBe(0o600);
  });

  it("a wrong data key is a clear error, not garbage", () => {
    const dir = freshDir();
    EmsConfig.open(dir, { create: true }).set("appKey", "opk_x");
    const env = { OUTPOST_EMS_DATA_KEY: randomBytes(32).toString("base64") };
    expect(() => EmsConfig.open(dir, { env }).secret("appKey")).toThrow(/wrong data key \(from OUTPOST_EMS_DATA_KEY\)/);
  });

  it("a changed ciphertext names its field", () => {
    const dir = freshDir();
    EmsConfig.open(dir, { create: true }).set("appKey", "opk_x");
    const file = join(dir, "config.json");
    const data = JSON.parse(readFileSync(file, "utf8")) as { appKey: string };
    const flipped = data.appKey.slice(0, -3) + (data.appKey.at(-3) === "A" ? "B" : "A") + data.appKey.slice(-2);
    writeFileSync(file, JSON.stringify({ ...data, appKey: flipped }));
    expect(() => EmsConfig.open(dir).secret("appKey")).toThrow(
      "config field appKey cannot be decrypted: the data key is wrong or the value was changed",
    );
  });

  it("a ciphertext moved to another field does not decrypt there", () => {
    const dir = freshDir();
    const c = EmsConfig.open(dir, { create: true });
    c.set("appKey", "opk_x");
    const file = join(dir, "config.json");
    const data = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
    writeFileSync(file, JSON.stringify({ ...data, tls: { passphrase: data.appKey } }));
    expect(() => EmsConfig.open(dir).secret("tls.passphrase")).toThrow(/tls.passphrase cannot be decrypted/);
  });

  it("plaintext secrets written by hand are encrypted by encryptPlaintextSecrets", () => {
    const dir = freshDir();
    writeFileSync(join(dir, "config.json"), JSON.stringify({ appKey: "opk_handwritten", proxy: { password: "pw1" } }));
    const c = EmsConfig.open(dir);
    expect(c.encryptPlaintextSecrets().sort()).toEqual(["appKey", "proxy.password"]);
    const text = readFileSync(join(dir, "config.json"), "utf8");
    expect(text).not.toContain("opk_handwritten");
    expect(text).not.toContain("pw1");
    expect(EmsConfig.open(dir).secret("proxy.password")).toBe("pw1");
  });

  it("schema violations are OUTPOST_INVALID_CONFIG naming the field", () => {
    const c = EmsConfig.open(freshDir(), { create: true });
    expect(() => c.set("server.url", "http://not-ws")).toThrow(/server.url/);
    expect(() => c.set("queue.maxBytes", "lots")).toThrow(/queue.maxBytes/);
  });

  it("the schema is valid JSON Schema 2020-12 (EmsConfig.open skips that check at start)", () => {
    const cwd = mkdtempSync(join(tmpdir(), "ems-schema-"));
    dirs.push(cwd);
    // conf's default ajv options check the schema against the meta-schema, as EmsConfig.open no longer does.
    expect(() => new Conf({ cwd, configName: "config", schema: CONFIG_SCHEMA as never })).not.toThrow();
  });

  it("a data key file readable by others is refused", async () => {
    const dir = freshDir();
    const { chmodSync } = await import("node:fs");
    chmodSync(join(dir, "data.key"), 0o644);
    expect(() => loadDataKey(dir, {})).toThrow(/chmod 600/);
  });

  it("a systemd credential directory provides the key", () => {
    const dir = freshDir();
    const creds = mkdtempSync(join(tmpdir(), "ems-creds-"));
    dirs.push(creds);
    const key = randomBytes(32);
    writeFileSync(join(creds, "data.key"), key);
    expect(loadDataKey(dir, { CREDENTIALS_DIRECTORY: creds })).toEqual({ key, source: "credentials" });
  });

  it("the directory defaults to $OUTPOST_EMS_DIR, then the config dir", () => {
    expect(resolveDir(undefined, { OUTPOST_EMS_DIR: "/x/y" })).toBe("/x/y");
    expect(resolveDir("/a", { OUTPOST_EMS_DIR: "/x/y" })).toBe("/a");
    if (process.getuid?.() === 0) expect(resolveDir(undefined, {})).toBe("/etc/outpost-ems");
    else expect(resolveDir(undefined, { XDG_CONFIG_HOME: "/c" })).toBe("/c/outpost-ems");
  });
});
