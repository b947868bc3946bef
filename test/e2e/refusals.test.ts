import { EdgeClient, type EdgeClientOptions } from "@outpost/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expiredDeviceCert, otherCaDeviceCert } from "../helpers/certs.js";
import { operatorRequest } from "../helpers/operator-client.js";
import { type DeviceBundle, ServerProcess } from "../helpers/server-process.js";
import { waitUntil } from "../helpers/wait.js";

/** Connects once (no reconnect) and returns the typed error the connection failed with. */
async function refusal(
  options: Omit<EdgeClientOptions, "reconnect">,
  things: string[] = [],
): Promise<{ code: string }> {
  const client = new EdgeClient({ ...options, reconnect: false, connectTimeoutMs: 10_000 });
  for (const t of things) client.thing(t);
  try {
    await client.connect();
  } catch (err) {
    return err as { code: string };
  } finally {
    await client.close({ flush: false, timeoutMs: 1000 });
  }
  throw new Error("connection was accepted");
}

describe("identity - every refusal has its typed error and an audit record", () => {
  let server: ServerProcess;
  let alpha: DeviceBundle;
  let beta: DeviceBundle;

  beforeAll(async () => {
    server = ServerProcess.init();
    alpha = server.addDevice("dev-alpha", ["alpha-thing"]);
    beta = server.addDevice("dev-beta", ["beta-thing"]);
    await server.start();
  });

  afterAll(async () => {
    await server?.dispose();
  });

  const tlsOf = (b: DeviceBundle) => ({ ca: b.ca, cert: b.cert, key: b.key });
  const failures = (code: string) =>
    server.auditRecords().filter((r) => r.type === "login.failure" && r.code === code && r.outcome === "failure");

  it("identity - the correct key and certificate are accepted and audited", async () => {
    const client = new EdgeClient({ url: server.edgeUrl, appKey: alpha.appKey, tls: tlsOf(alpha), reconnect: false });
    client.thing("alpha-thing");
    await client.connect();
    await client.close();
    await waitUntil("login.success record", () =>
      server.auditRecords().some((r) => r.type === "login.success" && r.actor === "device:dev-alpha"),
    );
  });

  it("identity - a wrong application key is refused with OUTPOST_UNAUTHORIZED", async () => {
    const wrong = `${alpha.appKey.slice(0, -4)}${alpha.appKey.endsWith("AAAA") ? "BBBB" : "AAAA"}`;
    const err = await refusal({ url: server.edgeUrl, appKey: wrong, tls: tlsOf(alpha) });
    expect(err.code).toBe("OUTPOST_UNAUTHORIZED");
    await waitUntil("audit record", () => failures("OUTPOST_UNAUTHORIZED").length >= 1);
    expect(JSON.stringify(server.auditRecords())).not.toContain(wrong);
  });

  it("identity - a revoked key is refused with OUTPOST_UNAUTHORIZED", async () => {
    const extra = server.cli(["key", "add", "dev-alpha"]);
    const key = /opk_[A-Za-z0-9_-]+/.exec(extra)![0];
    const keyId = /keyId[":\s]+([A-Za-z0-9_-]+)/.exec(extra)?.[1] ?? key.slice(4, 20);
    server.cli(["key", "revoke", keyId]);
    const before = failures("OUTPOST_UNAUTHORIZED").length;
    const err = await refusal({ url: server.edgeUrl, appKey: key, tls: tlsOf(alpha) });
    expect(err.code).toBe("OUTPOST_UNAUTHORIZED");
    await waitUntil("audit record", () => failures("OUTPOST_UNAUTHORIZED").length > before);
    const last = failures("OUTPOST_UNAUTHORIZED").at(-1)!;
    expect(JSON.stringify(last)).toContain("revoked");
  });

  it("identity - an expired key is refused with OUTPOST_UNAUTHORIZED", async () => {
    const extra = server.cli(["key", "add", "dev-alpha", "--ttl", "1s"]);
    const key = /opk_[A-Za-z0-9_-]+/.exec(extra)![0];
    await new Promise((r) => setTimeout(r, 1200));
    const before = failures("OUTPOST_UNAUTHORIZED").length;
    const err = await refusal({ url: server.edgeUrl, appKey: key, tls: tlsOf(alpha) });
    expect(err.code).toBe("OUTPOST_UNAUTHORIZED");
    await waitUntil("audit record", () => failures("OUTPOST_UNAUTHORIZED").length > before);
    expect(JSON.stringify(failures("OUTPOST_UNAUTHORIZED").at(-1))).toContain("expired");
  });

  it("identity - a key of another device than the certificate is refused with OUTPOST_FORBIDDEN", async () => {
    const err = await refusal({ url: server.edgeUrl, appKey: beta.appKey, tls: tlsOf(alpha) });
    expect(err.code).toBe("OUTPOST_FORBIDDEN");
    await waitUntil("audit record", () => failures("OUTPOST_FORBIDDEN").length >= 1);
  });

  it("identity - a client without a certificate is refused in the TLS handshake", async () => {
    const err = await refusal({ url: server.edgeUrl, appKey: alpha.appKey, tls: { ca: alpha.ca } });
    expect(err.code).toBe("OUTPOST_TLS");
    await waitUntil("audit record", () => failures("OUTPOST_TLS").length >= 1);
  });

  it("identity - a certificate from another CA is refused in the TLS handshake", async () => {
    const before = failures("OUTPOST_TLS").length;
    const foreign = otherCaDeviceCert("dev-alpha");
    const err = await refusal({ url: server.edgeUrl, appKey: alpha.appKey, tls: { ca: alpha.ca, ...foreign } });
    expect(err.code).toBe("OUTPOST_TLS");
    await waitUntil("audit record", () => failures("OUTPOST_TLS").length > before);
    expect(failures("OUTPOST_TLS").at(-1)?.source).toBe("127.0.0.1");
  });

  it("identity - an expired device certificate is refused in the TLS handshake", async () => {
    const before = failures("OUTPOST_TLS").length;
    const expired = expiredDeviceCert(server.dataDir, "dev-alpha");
    const err = await refusal({ url: server.edgeUrl, appKey: alpha.appKey, tls: { ca: alpha.ca, ...expired } });
    expect(err.code).toBe("OUTPOST_TLS");
    await waitUntil("audit record", () => failures("OUTPOST_TLS").length > before);
    expect(failures("OUTPOST_TLS").at(-1)?.source).toBe("127.0.0.1");
  });

  it("identity - binding another device's Thing is refused with OUTPOST_FORBIDDEN; own Things stay bound", async () => {
    const client = new EdgeClient({ url: server.edgeUrl, appKey: alpha.appKey, tls: tlsOf(alpha), reconnect: false });
    const errors: Array<{ code: string; message: string }> = [];
    client.on("error", (err) => errors.push(err as { code: string; message: string }));
    client.thing("beta-thing");
    const own = client.thing("alpha-thing");
    own.property("level", { type: "integer" });
    await client.connect();
    try {
      expect(errors.map((e) => e.code)).toEqual(["OUTPOST_FORBIDDEN"]);
      expect(errors[0]!.message).toContain("beta-thing");
      await waitUntil("denied record", () =>
        server
          .auditRecords()
          .some(
            (r) => r.type === "denied" && r.actor === "device:dev-alpha" && String(r.target).includes("beta-thing"),
          ),
      );
      own.set("level", 3);
      await client.flush();
      const r = await operatorRequest(
        server.operatorUrl,
        server.caPem,
        server.adminToken,
        "GET",
        "/api/things/alpha-thing/properties",
      );
      expect(r.body.properties.find((p: { name: string }) => p.name === "level")?.value).toBe(3);
    } finally {
      await client.close();
    }
  });

  it("identity - writing a property without permission is refused with OUTPOST_FORBIDDEN", async () => {
    const out = server.cli(["operator", "add", "viewer"]);
    const token = /opt_[A-Za-z0-9_-]+/.exec(out)![0];
    server.cli(["grant", "viewer", "alpha-thing", "property.read"]);
    const client = new EdgeClient({ url: server.edgeUrl, appKey: alpha.appKey, tls: tlsOf(alpha), reconnect: false });
    const thing = client.thing("alpha-thing");
    thing.property("mode", { type: "string", writable: true, initial: "auto" });
    await client.connect();
    try {
      const api = (method: string, path: string, body?: unknown) =>
        operatorRequest(server.operatorUrl, server.caPem, token, method, path, body);
      const read = await api("GET", "/api/things/alpha-thing/properties");
      expect(read.status).toBe(200);
      const write = await api("PUT", "/api/things/alpha-thing/properties/mode", { value: "manual" });
      expect(write.status).toBe(403);
      expect(write.body.error.code).toBe("OUTPOST_FORBIDDEN");
      expect(thing.get("mode")).toBe("auto");
      await waitUntil("denied record", () =>
        server.auditRecords().some((r) => r.type === "denied" && r.actor === "operator:viewer"),
      );
    } finally {
      await client.close();
    }
  });

  it("identity - no application key secret or operator token reaches the server's logs or audit log", () => {
    const secretOf = (key: string) => key.slice(-43);
    const text = `${server.logs.join("\n")}\n${JSON.stringify(server.auditRecords())}`;
    expect(text.length).toBeGreaterThan(1000);
    for (const key of [alpha.appKey, beta.appKey]) expect(text).not.toContain(secretOf(key));
    expect(text).not.toContain(secretOf(server.adminToken));
  });

  it("identity - the audit log's hash chain verifies", () => {
    const out = server.cli(["audit", "verify"]);
    expect(out).toMatch(/ok/i);
  });
});
