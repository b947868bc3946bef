import { timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { isIP } from "node:net";
import { ErrorCode, OutpostError } from "@outpost/protocol";

const LOCAL_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]", "::1"]);

/**
 * Refuses what a web page could send: any `Origin` header (browsers add it to cross-origin and
 * state-changing requests; local tools do not) and a `Host` other than localhost (DNS rebinding).
 * On TCP also requires the bearer token. Throws OUTPOST_FORBIDDEN or OUTPOST_UNAUTHORIZED.
 */
export function checkRequest(req: IncomingMessage, via: "unix" | "tcp", token: string | undefined): void {
  if (req.headers.origin !== undefined) {
    throw new OutpostError(ErrorCode.Forbidden, "requests with an Origin header (from a browser) are refused");
  }
  const site = req.headers["sec-fetch-site"];
  if (site !== undefined && site !== "none")
    throw new OutpostError(ErrorCode.Forbidden, "browser requests are refused");
  const host = (req.headers.host ?? "").toLowerCase();
  const name = host.startsWith("[") ? host.slice(0, host.indexOf("]") + 1) : host.split(":")[0]!;
  if (host !== "" && !LOCAL_HOSTS.has(name)) {
    throw new OutpostError(ErrorCode.Forbidden, `Host ${JSON.stringify(host)} refused: use localhost`);
  }
  if (via === "tcp") {
    const auth = req.headers.authorization ?? "";
    const m = /^Bearer\s+(\S+)$/i.exec(auth);
    if (!token || !m || !sameSecret(m[1]!, token)) {
      throw new OutpostError(ErrorCode.Unauthorized, "a bearer token is required on TCP: see outpost-ems local-token");
    }
  }
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Whether `host` is a loopback address or name. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  if (h === "localhost" || h === "::1") return true;
  return isIP(h) === 4 && h.startsWith("127.");
}

/** Splits `host:port` (IPv6 in brackets). */
export function parseHostPort(spec: string): { host: string; port: number } {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:\s]+):(\d{1,5})$/.exec(spec);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !(port >= 0 && port <= 65535)) {
    throw new OutpostError(ErrorCode.InvalidConfig, `local.tcp must be host:port, got ${JSON.stringify(spec)}`);
  }
  return { host: m[1]!.replace(/^\[|\]$/g, ""), port };
}
