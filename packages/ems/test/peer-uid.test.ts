import { createServer, connect, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { tcpPeerUid } from "../src/local/peer-uid.js";

const closers: Array<() => void> = [];
afterEach(() => {
  for (const c of closers.splice(0)) c();
});

/** Accepts one loopback connection on `host` and resolves with the server's side of it. */
async function accepted(host: string): Promise<Socket | undefined> {
  const server = createServer();
  closers.push(() => server.close());
  const ok = await new Promise<boolean>((resolve) => {
    server.once("error", () => resolve(false));
    server.listen(0, host, () => resolve(true));
  });
  if (!ok) return undefined;
  const port = (server.address() as { port: number }).port;
  const side = new Promise<Socket>((resolve) => server.once("connection", resolve));
  const client = connect({ host, port });
  closers.push(() => client.destroy());
  const s = await side;
  closers.push(() => s.destroy());
  return s;
}

describe("ems local API - peer uid of a loopback TCP client", () => {
  it("local API - reads the uid of the process at the other end of a 127.0.0.1 connection", async () => {
    const s = await accepted("127.0.0.1");
    expect(tcpPeerUid(s!)).toBe(process.getuid!());
  });

  it("local API - reads it over ::1 too", async (t) => {
    const s = await accepted("::1");
    if (!s) return t.skip();
    expect(tcpPeerUid(s)).toBe(process.getuid!());
  });

  it("local API - finds no uid for a connection that is not in the table, and skips TIME_WAIT rows", () => {
    const ends = { localAddress: "127.0.0.1", localPort: 8787, remoteAddress: "127.0.0.1", remotePort: 40000 };
    const header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";
    const row = (st: string, uid: number) =>
      `   1: 0100007F:9C40 0100007F:2253 ${st} 00000000:00000000 00:00000000 00000000  ${uid}        0 1 1\n`;
    const only = (text: string) => (f: string) => (f === "/proc/net/tcp" ? text : "");
    expect(tcpPeerUid(ends, only(header + row("01", 1234)))).toBe(1234);
    expect(tcpPeerUid(ends, only(header + row("06", 0)))).toBeUndefined();
    expect(tcpPeerUid({ ...ends, remotePort: 40001 }, only(header + row("01", 1234)))).toBeUndefined();
  });
});
