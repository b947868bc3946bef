// Baseline peer for benchmarks: a plain `ws` echo server over the same mutual TLS as the edge
// endpoint, with no protocol on top. Prints {"port":N} once listening; answers "rss" on stdin with
// {"rss":bytes} after a GC.
import { readFileSync } from "node:fs";
import { createServer } from "node:https";
import { createInterface } from "node:readline";
import { WebSocketServer } from "ws";

const [certFile, keyFile, caFile] = process.argv.slice(2);
const server = createServer({
  cert: readFileSync(certFile),
  key: readFileSync(keyFile),
  ca: readFileSync(caFile),
  requestCert: true,
  rejectUnauthorized: true,
  minVersion: "TLSv1.2",
});
const wss = new WebSocketServer({ server, perMessageDeflate: false });
wss.on("connection", (ws) => {
  ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary }));
});
server.listen(0, "127.0.0.1", () => {
  console.log(JSON.stringify({ port: server.address().port }));
});
createInterface({ input: process.stdin }).on("line", (line) => {
  if (line.trim() === "rss") {
    globalThis.gc?.();
    setTimeout(() => console.log(JSON.stringify({ rss: process.memoryUsage().rss, clients: wss.clients.size })), 200);
  }
});
