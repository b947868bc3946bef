import { EdgeClient, silentLogger } from "@outpost/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { operatorRequest } from "../helpers/operator-client.js";
import { type DeviceBundle, ServerProcess } from "../helpers/server-process.js";
import { findSquid, Squid } from "../helpers/squid.js";
import { waitUntil } from "../helpers/wait.js";

const USER = "field-unit";
const PASSWORD = "proxy:p@ss word";
const found = findSquid();
// Without squid a developer's run skips this file and says why; in CI it must run (and fails loudly).
const skip = typeof found === "string" && !process.env.CI;
if (skip) console.warn(`proxy-squid.test.ts skipped: ${found}`);

describe.skipIf(skip)("proxy - through a real squid with Basic authentication", () => {
  let server: ServerProcess;
  let squid: Squid;
  let bundle: DeviceBundle;
  let edgeUrl: string;
  const clients: EdgeClient[] = [];

  beforeAll(async () => {
    server = ServerProcess.init();
    bundle = server.addDevice("dev-proxy", ["meter-1"]);
    await server.start();
    // By name, so the tunnel is asked for localhost:port and TLS checks the server certificate for "localhost".
    edgeUrl = server.edgeUrl.replace("127.0.0.1", "localhost");
    squid = await Squid.start(USER, PASSWORD);
  });

  afterAll(async () => {
    for (const c of clients) await c.close({ timeoutMs: 1000 });
    await squid?.stop();
    await server?.dispose();
  });

  const client = (extra: Partial<ConstructorParameters<typeof EdgeClient>[0]>): EdgeClient => {
    const c = new EdgeClient({
      url: edgeUrl,
      appKey: bundle.appKey,
      tls: { ca: bundle.ca, cert: bundle.cert, key: bundle.key },
      reconnect: { initialDelayMs: 20, maxDelayMs: 200 },
      logger: silentLogger,
      ...extra,
    });
    clients.push(c);
    return c;
  };

  const propertyOnServer = (value: number) =>
    waitUntil(`meter-1.reading = ${value} on the server`, async () => {
      const r = await operatorRequest(
        server.operatorUrl,
        server.caPem,
        server.adminToken,
        "GET",
        "/api/things/meter-1/properties",
      );
      return r.body?.properties?.find(
        (p: { name: string; value: unknown }) => p.name === "reading" && p.value === value,
      );
    });

  it("proxy - with good credentials the device connects through squid and delivers a property", async () => {
    const c = client({ proxy: { url: squid.url, username: USER, password: PASSWORD } });
    await c.connect();
    c.thing("meter-1").set("reading", 17);
    await c.flush();
    await propertyOnServer(17);
    await c.close();
    const port = new URL(edgeUrl).port;
    await waitUntil("the tunnel in squid's access log", () => squid.accessLog().includes(`CONNECT localhost:${port}`));
    const line = squid
      .accessLog()
      .split("\n")
      .find((l) => l.includes(`CONNECT localhost:${port}`));
    expect(line).toContain(USER);
    expect(line).toContain("/200");
  });

  it("proxy - wrong credentials are OUTPOST_PROXY_AUTH: squid refused them, not retried", async () => {
    const c = client({ proxy: `http://${USER}:wrong-password@127.0.0.1:${squid.port}` });
    const err = await c.connect().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "OUTPOST_PROXY_AUTH", status: 407 });
    expect((err as Error).message).toContain(`proxy ${squid.url} refused the credentials`);
    expect((err as Error).message).not.toContain("wrong-password");
    expect(c.status).toMatchObject({ type: "disconnected" });
    expect(c.status).not.toHaveProperty("retryInMs");
  });

  it("proxy - HTTPS_PROXY from the environment goes through squid; NO_PROXY for the host bypasses it", async () => {
    const saved = {
      HTTPS_PROXY: process.env.HTTPS_PROXY,
      https_proxy: process.env.https_proxy,
      NO_PROXY: process.env.NO_PROXY,
    };
    const port = new URL(edgeUrl).port;
    // Tunnels squid opened (status 200): the refusal of the test before is logged as a 407 line, possibly late.
    const tunnels = () =>
      squid
        .accessLog()
        .split("\n")
        .filter((l) => l.includes(`CONNECT localhost:${port}`) && l.includes("/200")).length;
    try {
      delete process.env.https_proxy;
      process.env.HTTPS_PROXY = `http://${encodeURIComponent(USER)}:${encodeURIComponent(PASSWORD)}@127.0.0.1:${squid.port}`;
      process.env.NO_PROXY = "localhost";
      const before = tunnels();
      const direct = client({});
      await direct.connect();
      direct.thing("meter-1").set("reading", 18);
      await direct.flush();
      await propertyOnServer(18);
      await direct.close();

      delete process.env.NO_PROXY;
      const proxied = client({});
      await proxied.connect();
      proxied.thing("meter-1").set("reading", 19);
      await proxied.flush();
      await propertyOnServer(19);
      await proxied.close();
      // Squid logs a tunnel when it ends: only the second client's is there.
      await waitUntil("the second tunnel in squid's access log", () => tunnels() === before + 1);
      expect(tunnels()).toBe(before + 1);
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });
});
