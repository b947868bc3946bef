import { readFileSync } from "node:fs";
import { isIPv4 } from "node:net";
import { endianness } from "node:os";

/** What {@link tcpPeerUid} needs of a connected socket (both ends' addresses). */
export interface TcpEnds {
  localAddress?: string | undefined;
  localPort?: number | undefined;
  remoteAddress?: string | undefined;
  remotePort?: number | undefined;
}

const TIME_WAIT = "06";

/**
 * The uid owning the other end of a loopback TCP connection, from Linux's `/proc/net/tcp` and
 * `/proc/net/tcp6`: the peer's socket is the row whose local address is our remote one and whose
 * remote address is our local one. Pure JavaScript (the one-file binary carries no native addon).
 * Undefined when the row is gone (the peer already closed), the peer is not on this host, or the
 * files cannot be read (not Linux). Nothing like it exists for Unix sockets: see docs/ems.md.
 */
export function tcpPeerUid(ends: TcpEnds, read: (file: string) => string = readProc): number | undefined {
  const { localAddress, localPort, remoteAddress, remotePort } = ends;
  if (!localAddress || !remoteAddress || localPort === undefined || remotePort === undefined) return undefined;
  const peer = procAddress(remoteAddress, remotePort);
  const us = procAddress(localAddress, localPort);
  if (!peer || !us) return undefined;
  for (const file of peer.v6 ? ["/proc/net/tcp6"] : ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string;
    try {
      text = read(file);
    } catch {
      continue;
    }
    const local = file.endsWith("6") ? peer.as6 : peer.as4;
    const remote = file.endsWith("6") ? us.as6 : us.as4;
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 8 || f[1] !== local || f[2] !== remote || f[3] === TIME_WAIT) continue;
      const uid = Number(f[7]);
      if (Number.isSafeInteger(uid) && uid >= 0) return uid;
    }
  }
  return undefined;
}

function readProc(file: string): string {
  return readFileSync(file, "latin1");
}

/**
 * An address as the kernel prints it there: each 32-bit word of the address in host byte order
 * as hex, then `:` and the port in hex. IPv4 peers of an IPv6 socket appear as `::ffff:a.b.c.d`.
 */
function procAddress(address: string, port: number): { v6: boolean; as4?: string; as6: string } | undefined {
  const p = port.toString(16).toUpperCase().padStart(4, "0");
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  const v4 = isIPv4(address) ? address : mapped;
  if (v4 !== undefined) {
    const bytes = v4.split(".").map(Number);
    const word = hostWord(bytes);
    return {
      v6: mapped !== undefined,
      as4: `${word}:${p}`,
      as6: `${hostWord([0, 0, 0, 0])}${hostWord([0, 0, 0, 0])}${hostWord([0, 0, 0xff, 0xff])}${word}:${p}`,
    };
  }
  const bytes = ipv6Bytes(address);
  if (!bytes) return undefined;
  let hex = "";
  for (let i = 0; i < 16; i += 4) hex += hostWord(bytes.slice(i, i + 4));
  return { v6: true, as6: `${hex}:${p}` };
}

function hostWord(bytes: number[]): string {
  const ordered = endianness() === "LE" ? [...bytes].reverse() : bytes;
  return ordered.map((b) => b.toString(16).toUpperCase().padStart(2, "0")).join("");
}

function ipv6Bytes(address: string): number[] | undefined {
  const a = address.replace(/^\[|\]$/g, "").replace(/%.*$/, "");
  const halves = a.split("::");
  if (halves.length > 2) return undefined;
  const groups = (s: string): number[] => (s === "" ? [] : s.split(":").map((g) => parseInt(g, 16)));
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  const fill = halves.length === 2 ? 8 - head.length - tail.length : 0;
  const all = [...head, ...Array<number>(fill).fill(0), ...tail];
  if (all.length !== 8 || all.some((g) => !(g >= 0 && g <= 0xffff))) return undefined;
  return all.flatMap((g) => [g >> 8, g & 0xff]);
}
