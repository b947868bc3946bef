// Ceiling peer for the tunnel benchmark: a plain `ws` relay over TLS with no protocol on top.
// Two WebSocket connections that name the same pair (`/op/<id>` and `/dev/<id>`) are joined, and
// every message of one is sent on the other, with backpressure (a side is paused while the other's
// socket holds more than 1 MiB unsent). This is what two TLS WebSocket hops through a Node relay
// cost at best: the floor of an Outpost tunnel, which adds its protocol and its end-to-end layer.
//   node raw-wss-relay.mjs <cert.pem> <key.pem>      prints {"port":N} once listening
import { readFileSync } from "node:fs";
import { createServer } from "node:https";
import { WebSocketServer } from "ws";

const [certFile, keyFile] = process.argv.slice(2);
const server = createServer({ cert: readFileSync(certFile), key: readFileSync(keyFile), minVersion: "TLSv1.2" });
const wss = new WebSocketServer({ server, perMessageDeflate: false, maxPayload: 16 * 1024 * 1024 });
const waiting = new Map();
const HIGH = 1024 * 1024;

function forward(from, to) {
  from.on("message", (data) => {
    to.send(data, { binary: true });
    if (to.bufferedAmount > HIGH) {
      from._socket.pause();
      const resume = () => (to.bufferedAmount > HIGH ? setImmediate(resume) : from._socket.resume());
      setImmediate(resume);
    }
  });
  from.on("close", () => to.close());
  from.on("error", () => to.terminate());
}

wss.on("connection", (ws, req) => {
  const [, side, id] = (req.url ?? "").split("/");
  const other = waiting.get(id);
  if (!other) {
    waiting.set(id, { ws, side });
    return;
  }
  waiting.delete(id);
  if (other.side === side) return ws.close(1008, "same side twice");
  forward(ws, other.ws);
  forward(other.ws, ws);
});
server.listen(0, "127.0.0.1", () => console.log(JSON.stringify({ port: server.address().port })));
