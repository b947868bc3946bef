// Shared setup for benchmarks against a real `outpost-server serve` process: a temporary data
// directory (initDataDir), many onboarded devices (registry rows, Things and application keys
// through SqliteRegistry; one reused RSA device key, one certificate per device), the server as a
// child process, the raw `ws` baseline server over the same certificates, and clean shutdown.
//
// Device certificates carry the same fields as issueDeviceCertificate (CN = device id, EKU
// clientAuth, signed by the data directory's CA). They are assembled with node-forge like the
// library does, but the RSA signature is made with node:crypto: forge's JavaScript RSA takes about
// 26 ms per certificate on this machine, which would dominate a 1000-device setup.
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  sign,
  X509Certificate,
} from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { initDataDir, SqliteRegistry } from "@outpost/server";
import forge from "node-forge";
import { spawnNode } from "./child.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");
export const SERVER_CLI = join(root, "packages", "server", "dist", "cli", "main.js");
export const RAW_SERVER = join(here, "raw-wss-server.mjs");
const GC_HOOK = join(here, "gc-hook.mjs");

/**
 * Creates a data directory with `devices` devices, each owning Thing `thing-<i>`. `configPatch`
 * (edge, authRateLimit, ... sections) is merged into config.json. Returns paths, PEMs and the
 * devices ({ id, thing, appKey, certPem }); the device key PEM is `deviceKeyPem`.
 */
export async function createFixture({ devices, configPatch = {} }) {
  const dir = mkdtempSync(join(tmpdir(), "outpost-bench-"));
  const { paths } = await initDataDir(dir, { hosts: ["127.0.0.1", "localhost"] });
  const config = JSON.parse(readFileSync(paths.config, "utf8"));
  for (const [section, values] of Object.entries(configPatch)) {
    config[section] = typeof values === "object" ? { ...config[section], ...values } : values;
  }
  writeFileSync(paths.config, `${JSON.stringify(config, null, 2)}\n`);

  const caPem = readFileSync(paths.caCert, "utf8");
  const caKey = createPrivateKey(readFileSync(paths.caKey, "utf8"));
  const caCert = forge.pki.certificateFromPem(caPem);
  const deviceKey = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
  const devicePublic = forge.pki.publicKeyFromPem(createPublicKey(deviceKey).export({ type: "spki", format: "pem" }));
  const authorityKeyId = caCert.generateSubjectKeyIdentifier().getBytes();

  const registry = new SqliteRegistry(paths.registry);
  const list = [];
  try {
    // One transaction: a row-by-row commit costs a sync each, which dominates a large fleet's setup.
    registry.transaction(() => {
      for (let i = 0; i < devices; i++) {
        const id = `bench-${String(i).padStart(5, "0")}`;
        const thing = `thing-${i}`;
        registry.createDevice(id, "benchmark device");
        registry.assignThing(thing, id);
        const { key } = registry.createKey(id, { label: "benchmark" });
        list.push({
          id,
          thing,
          appKey: key,
          certPem: deviceCertificate(id, devicePublic, caCert, caKey, authorityKeyId),
        });
      }
    });
  } finally {
    registry.close();
  }
  const caPublic = new X509Certificate(caPem).publicKey;
  if (list.length > 0 && !new X509Certificate(list[0].certPem).verify(caPublic)) {
    throw new Error("benchmark device certificate does not verify against the CA");
  }
  return {
    dir,
    paths,
    caPem,
    deviceKeyPem: deviceKey.export({ type: "pkcs8", format: "pem" }),
    devices: list,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

function deviceCertificate(deviceId, publicKey, caCert, caKey, authorityKeyId) {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  const serial = randomBytes(16);
  serial[0] = (serial[0] & 0x7f) | 0x01;
  cert.serialNumber = serial.toString("hex");
  cert.validity.notBefore = new Date(Date.now() - 5 * 60_000);
  cert.validity.notAfter = new Date(Date.now() + 30 * 86_400_000);
  cert.setSubject([{ name: "commonName", value: deviceId }]);
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: "basicConstraints", cA: false, critical: true },
    { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
    { name: "extKeyUsage", clientAuth: true },
    { name: "subjectKeyIdentifier" },
    { name: "authorityKeyIdentifier", keyIdentifier: authorityKeyId },
  ]);
  // forge computes the TBSCertificate, then calls key.sign(md): sign those DER bytes natively.
  const nativeKey = {
    sign: () => {
      const tbs = Buffer.from(forge.asn1.toDer(cert.tbsCertificate).getBytes(), "binary");
      return sign("sha256", tbs, caKey).toString("binary");
    },
  };
  cert.sign(nativeKey, forge.md.sha256.create());
  return forge.pki.certificateToPem(cert);
}

/**
 * Starts `outpost-server serve` on free ports (with --expose-gc and a SIGUSR2 → gc() hook) and
 * resolves with { child, pid, edgeUrl, gc(), stop() }. BENCH_SERVER_NODE_ARGS adds node flags.
 */
export async function startOutpostServer(dataDir) {
  const { child, waitFor, stderrTail } = spawnNode(
    [
      ...extraNodeArgs(),
      "--expose-gc",
      "--import",
      GC_HOOK,
      SERVER_CLI,
      "serve",
      "--data",
      dataDir,
      "--edge-port",
      "0",
      "--operator-port",
      "0",
    ],
    { quietStderr: true },
  );
  const started = await waitFor((m) => typeof m.edgeUrl === "string");
  return {
    child,
    pid: child.pid,
    edgeUrl: started.edgeUrl,
    waitFor,
    stderrTail,
    /** Asks the server process for a full GC; resolves with its report ({ heapUsed, external }). */
    gc() {
      const done = waitFor((m) => m.benchGc === true, 10_000);
      child.kill("SIGUSR2");
      return done;
    },
    stop: () => stopChild(child),
  };
}

/** Extra node flags for the server process, e.g. BENCH_SERVER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof". */
function extraNodeArgs() {
  return (process.env.BENCH_SERVER_NODE_ARGS ?? "").split(/\s+/).filter(Boolean);
}

/** Starts bench/lib/raw-wss-server.mjs with the data directory's server certificate and CA. */
export async function startRawServer(paths) {
  const { child, waitFor } = spawnNode(["--expose-gc", RAW_SERVER, paths.serverCert, paths.serverKey, paths.caCert], {
    quietStderr: true,
  });
  const { port } = await waitFor((m) => typeof m.port === "number");
  return {
    child,
    pid: child.pid,
    url: `wss://127.0.0.1:${port}`,
    /** GC in the raw server (its "rss" command), resolves with its report. */
    gc() {
      const reply = waitFor((m) => typeof m.rss === "number", 10_000);
      child.stdin.write("rss\n");
      return reply;
    },
    stop: () => stopChild(child),
  };
}

/** SIGTERM, then SIGKILL after 5 s; resolves when the process has exited. */
export function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill("SIGKILL"), 5_000);
    child.once("exit", () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

/** Runs `fn(item, index)` over `items` with at most `limit` at a time. */
export async function mapLimit(items, limit, fn) {
  const out = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
