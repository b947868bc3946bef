import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { EdgeClient } from "@outpost/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DeviceBundle, ServerProcess } from "../helpers/server-process.js";

describe("identity - passphrase-protected device key", () => {
  let server: ServerProcess;
  let bundle: DeviceBundle;
  const passphrase = "correct horse battery staple";

  beforeAll(async () => {
    server = ServerProcess.init();
    const file = join(server.dataDir, "..", "device-passphrase");
    writeFileSync(file, `${passphrase}\n`, { mode: 0o600 });
    bundle = server.addDevice("dev-locked", ["locked-1"], ["--passphrase-file", file]);
    await server.start();
  });

  afterAll(async () => {
    await server?.dispose();
  });

  it("identity - the onboarding bundle's key is encrypted at rest", () => {
    expect(bundle.key).toContain("BEGIN ENCRYPTED PRIVATE KEY");
  });

  it("identity - the device connects with the passphrase", async () => {
    const client = new EdgeClient({
      url: server.edgeUrl,
      appKey: bundle.appKey,
      tls: { ca: bundle.ca, cert: bundle.cert, key: bundle.key, passphrase },
      reconnect: false,
    });
    client.thing("locked-1");
    await client.connect();
    expect(client.status.type).toBe("connected");
    await client.close();
  });

  it("identity - a wrong or missing passphrase is a clear configuration error, before any connection", () => {
    const options = (passphraseOption: { passphrase?: string }) => ({
      url: server.edgeUrl,
      appKey: bundle.appKey,
      tls: { ca: bundle.ca, cert: bundle.cert, key: bundle.key, ...passphraseOption },
    });
    expect(() => new EdgeClient(options({ passphrase: "wrong" }))).toThrow(
      expect.objectContaining({
        code: "OUTPOST_INVALID_CONFIG",
        message: expect.stringContaining("wrong tls.passphrase"),
      }),
    );
    expect(() => new EdgeClient(options({}))).toThrow(
      expect.objectContaining({
        code: "OUTPOST_INVALID_CONFIG",
        message: expect.stringContaining("passphrase is required"),
      }),
    );
  });

  it("identity - a key that does not belong to the certificate is refused before connecting", () => {
    const other = server.addDevice("dev-other", ["other-1"]);
    expect(
      () =>
        new EdgeClient({
          url: server.edgeUrl,
          appKey: bundle.appKey,
          tls: { ca: bundle.ca, cert: bundle.cert, key: other.key },
        }),
    ).toThrow(
      expect.objectContaining({ code: "OUTPOST_INVALID_CONFIG", message: expect.stringContaining("does not belong") }),
    );
  });
});
