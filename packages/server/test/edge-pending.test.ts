import { Writable } from "node:stream";
import pino from "pino";
import { WebSocket } from "ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectDevice, makePki, startTestServer, type TestPki } from "./edge-harness.js";

let pki: TestPki;

beforeAll(() => {
  pki = makePki(["dev-1", "dev-2"]);
});

interface Opened {
  ws: WebSocket;
  /** Close code once the server closed it. */
  code?: number;
}

/** Opens `count` WebSockets that never send Hello; resolves once each is open (or was refused before). */
async function flood(
  url: string,
  count: number,
  options: { identity?: { certPem: string; keyPem: string }; localAddress?: string } = {},
): Promise<Opened[]> {
  const opened: Opened[] = [];
  for (let i = 0; i < count; i++) {
    const ws = new WebSocket(url, {
      ca: pki.caPem,
      ...(options.identity ? { cert: options.identity.certPem, key: options.identity.keyPem } : {}),
      ...(options.localAddress ? { localAddress: options.localAddress } : {}),
    });
    const entry: Opened = { ws };
    ws.on("close", (code) => (entry.code = code));
    ws.on("error", () => undefined);
    await new Promise<void>((resolve) => {
      ws.once("open", () => resolve());
      ws.once("close", () => resolve());
    });
    opened.push(entry);
  }
  return opened;
}

async function settled(conns: Opened[], refused: number): Promise<void> {
  for (let i = 0; i < 200 && conns.filter((c) => c.code === 1013).length < refused; i++) {
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A server with optional client certificates, 8 unauthenticated connections at most, `perSource` per source. */
function startPerSourceServer(perSource: number, extra: Parameters<typeof startTestServer>[1] = {}) {
  return startTestServer(pki, {
    ...extra,
    edge: {
      port: 0,
      certPem: pki.serverCertPem,
      keyPem: pki.serverKeyPem,
      clientCaPem: pki.caPem,
      clientCert: "optional",
      maxUnauthenticated: 8,
      maxUnauthenticatedPerSource: perSource,
    },
  });
}

describe("edge pending connections", () => {
  const closeAll: (() => void)[] = [];
  afterAll(() => {
    for (const c of closeAll) c();
  });

  it("edge - many never-Hello connections of one certificate cannot keep another device out", async () => {
    const local = await startTestServer(pki, {
      edge: {
        port: 0,
        certPem: pki.serverCertPem,
        keyPem: pki.serverKeyPem,
        clientCaPem: pki.caPem,
        maxUnauthenticated: 8,
        maxUnauthenticatedPerIdentity: 4,
      },
    });
    try {
      const conns = await flood(local.server.edgeUrl, 12, { identity: pki.devices["dev-2"] });
      closeAll.push(() => conns.forEach((c) => c.ws.terminate()));
      await settled(conns, 8);
      expect(conns.filter((c) => c.code === 1013)).toHaveLength(8);
      const good = await connectDevice(local.server.edgeUrl, pki.caPem, pki.devices["dev-1"]);
      await good.hello();
      expect((await good.auth(local.keys["dev-1"]!)).authResult?.deviceId).toBe("dev-1");
      await good.close();
      const audited = local.audit.records.filter(
        (r) => r.type === "login.failure" && (r.details as { stage?: string }).stage === "upgrade",
      );
      expect(audited.length).toBeGreaterThan(0);
      expect(audited[0]?.source).toBe("127.0.0.1");
    } finally {
      await local.close();
    }
  });

  it("edge - many never-Hello connections from one source cannot keep other sources out", async () => {
    const local = await startPerSourceServer(5);
    try {
      const conns = await flood(local.server.edgeUrl, 10, { localAddress: "127.0.0.2" });
      closeAll.push(() => conns.forEach((c) => c.ws.terminate()));
      await settled(conns, 5);
      expect(conns.filter((c) => c.code === 1013)).toHaveLength(5);
      const good = await connectDevice(local.server.edgeUrl, pki.caPem, pki.devices["dev-1"]);
      await good.hello();
      expect((await good.auth(local.keys["dev-1"]!)).authResult?.deviceId).toBe("dev-1");
      await good.close();
    } finally {
      await local.close();
    }
  });

  it("edge - a flood of refusals from one source is logged and audited a bounded number of times", async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString("utf8"));
        done();
      },
    });
    const local = await startPerSourceServer(3, {
      logger: pino({ level: "info" }, sink),
      authRateLimit: { maxFailures: 2 },
    });
    try {
      const conns = await flood(local.server.edgeUrl, 10, { localAddress: "127.0.0.3" });
      closeAll.push(() => conns.forEach((c) => c.ws.terminate()));
      await settled(conns, 7);
      expect(conns.filter((c) => c.code === 1013)).toHaveLength(7);
      const logged = lines.filter((l) => l.includes("too many unauthenticated connections; refusing"));
      const audited = local.audit.records.filter(
        (r) => r.type === "login.failure" && (r.details as { stage?: string }).stage === "upgrade",
      );
      expect(audited).toHaveLength(2);
      expect(logged).toHaveLength(2);
    } finally {
      await local.close();
    }
  });
});
