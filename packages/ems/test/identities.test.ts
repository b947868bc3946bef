import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createDataKeyFile } from "../src/config/data-key.js";
import { EmsConfig, ENCRYPTED_PLACEHOLDER, isSecretField } from "../src/config/ems-config.js";
import { checkIdentities, identityKey } from "../src/config/identity.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function freshConfig(): { dir: string; config: EmsConfig } {
  const dir = mkdtempSync(join(tmpdir(), "ems-identities-"));
  dirs.push(dir);
  createDataKeyFile(dir);
  const config = EmsConfig.open(dir, { create: true });
  config.setMany({
    "server.url": "wss://a:1/edge",
    "device.id": "dev-a",
    appKey: "opk_default",
    things: [{ name: "t-a" }],
  });
  return { dir, config };
}

describe("ems config - several device identities", () => {
  it("identities - each identity's secrets are encrypted, bound to their field, and read back", () => {
    const { dir, config } = freshConfig();
    config.setMany({
      "identities.meter.server.url": "wss://b:1/edge",
      "identities.meter.device.id": "dev-b",
      "identities.meter.appKey": "opk_meter_secret",
      "identities.meter.tls.key": "-----BEGIN PRIVATE KEY-----meter",
      "identities.meter.things": [{ name: "t-b" }],
    });
    const text = readFileSync(join(dir, "config.json"), "utf8");
    expect(text).not.toContain("opk_meter_secret");
    expect(text).not.toContain("PRIVATE KEY-----meter");
    const reopened = EmsConfig.open(dir);
    expect(reopened.secret("identities.meter.appKey")).toBe("opk_meter_secret");
    expect(reopened.get("identities.meter.appKey")).toBe(ENCRYPTED_PLACEHOLDER);
    expect(reopened.identities().map((i) => [i.name, i.data.device.id, i.queueDir])).toEqual([
      ["default", "dev-a", join(dir, "queue")],
      ["meter", "dev-b", join(dir, "identities", "meter", "queue")],
    ]);
    // A value moved to another identity's field does not decrypt there.
    const raw = JSON.parse(text);
    raw.appKey = raw.identities.meter.appKey;
    writeFileSync(join(dir, "config.json"), JSON.stringify(raw));
    expect(() => EmsConfig.open(dir).secret("appKey")).toThrow(/appKey/);
    expect(isSecretField("identities.meter.tls.passphrase")).toBe(true);
    expect(isSecretField("identities.meter.local.token")).toBe(false);
    expect(identityKey("default", "appKey")).toBe("appKey");
  });

  it("identities - plaintext secrets of any identity are encrypted at the next start", () => {
    const { dir, config } = freshConfig();
    config.set("identities.meter.server.url", "wss://b:1/edge");
    const file = join(dir, "config.json");
    const raw = JSON.parse(readFileSync(file, "utf8"));
    raw.identities.meter.appKey = "opk_typed_by_hand";
    writeFileSync(file, JSON.stringify(raw));
    expect(EmsConfig.open(dir).encryptPlaintextSecrets()).toEqual(["identities.meter.appKey"]);
    expect(readFileSync(file, "utf8")).not.toContain("opk_typed_by_hand");
    expect(EmsConfig.open(dir).secret("identities.meter.appKey")).toBe("opk_typed_by_hand");
  });

  it("identities - a Thing claimed twice or one device in two identities is refused, and nothing is written", () => {
    const { dir, config } = freshConfig();
    config.set("identities.meter.things", [{ name: "t-b" }]);
    expect(() => config.set("identities.meter.things", [{ name: "t-a" }])).toThrow(
      /Thing "t-a" is claimed by identities "default" and "meter"/,
    );
    expect(() => config.set("things", [{ name: "x" }, { name: "x" }])).toThrow(/listed twice/);
    expect(() => config.set("identities.meter.device.id", "dev-a")).toThrow(/both device "dev-a"/);
    expect(EmsConfig.open(dir).get("identities.meter.things")).toEqual([{ name: "t-b" }]);
    expect(() =>
      checkIdentities({ ...config.data, identities: { x: { things: [{ name: "t-b" }] } as never } }),
    ).not.toThrow();
  });

  it("identities - bad names are refused by the schema; the default identity cannot be removed", () => {
    const { config } = freshConfig();
    expect(() => config.set("identities.Bad Name.server.url", "wss://b:1/")).toThrow();
    expect(() => config.set("identities.default.server.url", "wss://b:1/")).toThrow();
    config.set("identities.gw-2.server.url", "wss://b:1/edge");
    expect(() => config.removeIdentity("default")).toThrow(/cannot be removed/);
    config.removeIdentity("gw-2");
    expect(config.identities().map((i) => i.name)).toEqual(["default"]);
    expect(() => config.removeIdentity("gw-2")).toThrow(/no identity/);
  });
});
