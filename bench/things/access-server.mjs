// The server process of bench/things/access-cost.mjs: the library's startServer() on a data
// directory's registry and TLS files, edge only, on a free port. Mode "model" uses the registry as
// it is (every update batch decided by the access model); mode "allow" uses a registry whose
// can() and visible() allow everything, the trivial decision the model is compared with. The audit
// log is in memory (two of these run at once on one data directory). Prints {"edgeUrl"} on stdout;
// stops on SIGTERM.
//   node bench/things/access-server.mjs <dataDir> model|allow
import { readFileSync } from "node:fs";
import { loadServerConfig, MemoryAuditLog, SqliteRegistry, startServer } from "@outpost/server";

const [dataDir, mode] = process.argv.slice(2);
if (mode !== "model" && mode !== "allow") throw new Error("usage: access-server.mjs <dataDir> model|allow");

class AllowEverything extends SqliteRegistry {
  can() {
    return true;
  }
  visible() {
    return true;
  }
}

const config = loadServerConfig(dataDir);
const p = config.paths;
const registry = mode === "allow" ? new AllowEverything(p.registry) : new SqliteRegistry(p.registry);
const server = await startServer({
  registry,
  audit: new MemoryAuditLog(),
  limits: config.limits,
  deviceLimits: config.deviceLimits,
  edge: {
    host: "127.0.0.1",
    port: 0,
    certPem: readFileSync(p.serverCert, "utf8"),
    keyPem: readFileSync(p.serverKey, "utf8"),
    clientCaPem: readFileSync(p.caCert, "utf8"),
    sendBufferBytes: config.edge.sendBufferBytes,
  },
  operator: false,
});
console.log(JSON.stringify({ edgeUrl: server.edgeUrl, mode }));
process.once("SIGTERM", () => {
  server
    .close()
    .then(() => registry.close())
    .finally(() => process.exit(0));
});
