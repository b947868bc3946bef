// The baseline of bench/ems: a bare Node HTTP server on a Unix socket that reads each request's
// body and answers 204. Prints {"ready": true} once listening.
//   node bench/ems/bare-server.mjs <socket>
import { unlinkSync } from "node:fs";
import { createServer } from "node:http";

const path = process.argv[2];
try {
  unlinkSync(path);
} catch {
  // not there
}
createServer((req, res) => {
  req.resume();
  req.on("end", () => res.writeHead(204).end());
}).listen(path, () => console.log(JSON.stringify({ ready: true })));
