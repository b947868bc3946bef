// Ceiling peer for the file benchmark: one plain `ws` connection over TLS carrying a file with no
// protocol on top (no per-chunk encryption, no hashing, no records, no window). `/put/<name>`
// takes binary messages, writes them to <dir>/<name>, and on the text message "end" fsyncs and
// answers "ok"; `/get/<name>` sends <dir>/<name> in 256 KiB messages (paused while more than 8 MiB
// is unsent) and then the text message "end". This is what one TLS WebSocket hop with the file
// read and written costs at best: the floor of an Outpost transfer over the same transport.
// With `?work` both ends also do the per-byte work any Outpost transfer must do (file-work.mjs):
// every message is one AES-256-GCM chunk and the whole file is hashed with MD5 and SHA-256.
//   node raw-wss-file.mjs <cert.pem> <key.pem> <dir>      prints {"port":N} once listening
import { readFileSync } from "node:fs";
import { createServer } from "node:https";
import { basename, join } from "node:path";
import { WebSocketServer } from "ws";
import { receiveFile, receiver, sender, sendFile } from "./file-work.mjs";

const [certFile, keyFile, dir] = process.argv.slice(2);
const server = createServer({ cert: readFileSync(certFile), key: readFileSync(keyFile), minVersion: "TLSv1.2" });
const wss = new WebSocketServer({ server, perMessageDeflate: false, maxPayload: 16 * 1024 * 1024 });

function put(ws, file, work) {
  const r = work ? receiver() : undefined;
  receiveFile(ws, file, r, () => ws.send(r ? `ok ${r.digests().join(" ")}` : "ok"));
}

async function get(ws, file, work) {
  const s = await sendFile(ws, file, work ? sender() : undefined);
  ws.send(s ? `end ${s.digests().join(" ")}` : "end");
}

wss.on("connection", (ws, req) => {
  const url = new URL(req.url ?? "/", "https://x");
  const [, op, name] = url.pathname.split("/");
  const work = url.searchParams.has("work");
  const file = join(dir, basename(decodeURIComponent(name ?? "")));
  ws.on("error", () => ws.terminate());
  if (op === "put") put(ws, file, work);
  else if (op === "get") get(ws, file, work).catch(() => ws.terminate());
  else ws.close(1008, "put or get");
});
server.listen(0, "127.0.0.1", () => console.log(JSON.stringify({ port: server.address().port })));
