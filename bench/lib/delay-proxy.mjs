import { connect, createServer } from "node:net";

/** A TCP proxy to `port` that delays every chunk by `delayMs` in each direction, keeping order. */
export async function startDelayProxy(port, delayMs) {
  const sockets = new Set();
  const pipe = (from, to) => {
    from.on("data", (chunk) => setTimeout(() => to.destroyed || to.write(chunk), delayMs));
    from.on("end", () => setTimeout(() => to.end(), delayMs));
    from.on("error", () => to.destroy());
    from.on("close", () => setTimeout(() => to.destroy(), delayMs));
  };
  const server = createServer((inbound) => {
    const outbound = connect(port, "127.0.0.1");
    sockets.add(inbound).add(outbound);
    pipe(inbound, outbound);
    pipe(outbound, inbound);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: server.address().port,
    stop: () => {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}
