import { lookup } from "node:dns/promises";
import { connect as netConnect } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { ErrorCode, isOutpostError } from "@outpost/protocol";
import { EdgeClient, silentLogger } from "@outpost/sdk";
import type { EmsConfig } from "../config/ems-config.js";
import { checkIdentities, type IdentityView } from "../config/identity.js";
import { clientOptionsFrom } from "./client-options.js";

/** Result of {@link checkConnection}: one line per step, and the first problem in plain words. */
export interface CheckResult {
  ok: boolean;
  lines: string[];
  problem?: string;
  /** 2 for a configuration problem, 1 for a connection problem. */
  exitCode: number;
}

/** Options of {@link checkConnection}. */
export interface CheckOptions {
  /** Limit of each network step. Default 15_000 ms. */
  timeoutMs?: number;
  /** The identity to check. Default: the default identity. */
  identity?: IdentityView;
}

/**
 * Validates the configuration and its secrets, then walks the connection one step at a time
 * (DNS, TCP, TLS with the server certificate, TLS with the device certificate, Auth) so the first
 * failing step can be named.
 */
export async function checkConnection(config: EmsConfig, options: CheckOptions = {}): Promise<CheckResult> {
  const timeoutMs = options.timeoutMs ?? 15_000;
  const lines: string[] = [];
  const identity = options.identity ?? config.identities()[0]!;
  const d = identity.data;
  const fail = (problem: string, exitCode = 1): CheckResult => {
    lines.push(`FAIL ${problem}`);
    return { ok: false, lines, problem, exitCode };
  };
  let opts: ReturnType<typeof clientOptionsFrom>;
  try {
    checkIdentities(config.data);
    opts = clientOptionsFrom(config, identity);
    new EdgeClient({ ...opts, logger: silentLogger, reconnect: false });
  } catch (err) {
    return fail(`configuration: ${(err as Error).message}`, 2);
  }
  lines.push(`ok   configuration ${config.paths.config} (data key from ${config.dataKeySource})`);
  const url = new URL(opts.url);
  const host = url.hostname.replace(/^\[|\]$/g, "");
  const port = Number(url.port || 443);
  if (d.proxy.url) lines.push(`note the connection goes through the proxy ${d.proxy.url}`);
  else {
    try {
      const a = await lookup(host);
      lines.push(`ok   DNS ${host} -> ${a.address}`);
    } catch (err) {
      return fail(
        `DNS: cannot resolve ${host} (${(err as NodeJS.ErrnoException).code}): check server.url and the DNS settings`,
      );
    }
    const tcp = await step((done) => {
      const s = netConnect({ host, port, timeout: timeoutMs }, () => done(undefined, s));
      s.on("timeout", () => done(new Error("timed out"), s));
      s.on("error", (e) => done(e, s));
    });
    if (tcp) return fail(`TCP: cannot reach ${host}:${port} (${tcp}): is the server up, is a firewall in the way?`);
    lines.push(`ok   TCP ${host}:${port}`);
    const servername = d.server.servername ?? (/^[\d.]+$|:/.test(host) ? undefined : host);
    const tlsErr = await step((done) => {
      const s = tlsConnect(
        {
          host,
          port,
          ca: opts.tls.ca,
          ...(servername && { servername }),
          timeout: timeoutMs,
          ALPNProtocols: ["http/1.1"],
        },
        () => done(undefined, s),
      );
      s.on("timeout", () => done(new Error("timed out"), s));
      s.on("error", (e) => done(e, s));
    });
    if (tlsErr && !d.server.insecureSkipVerify) {
      return fail(
        /certificate|self.signed|altnames|verify/i.test(tlsErr)
          ? `certificate: the server's certificate is not trusted (${tlsErr}): check tls.ca and the host name in server.url`
          : `TLS: handshake with ${host}:${port} failed (${tlsErr})`,
      );
    }
    lines.push("ok   TLS: the server certificate is valid for this host and issued by tls.ca");
  }
  const client = new EdgeClient({ ...opts, logger: silentLogger, reconnect: false, connectTimeoutMs: timeoutMs });
  try {
    await client.connect({ signal: AbortSignal.timeout(timeoutMs + 1_000) });
    lines.push(`ok   Auth: connected as ${client.status.type === "connected" ? client.status.deviceId : "?"}`);
    return { ok: true, lines, exitCode: 0 };
  } catch (err) {
    return fail(explain(err));
  } finally {
    await client.close({ flush: false });
  }
}

function explain(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  if (isOutpostError(err, ErrorCode.Unauthorized))
    return `Auth: the server refused the application key (${msg}): check appKey`;
  if (isOutpostError(err, ErrorCode.ProxyAuth)) {
    return `proxy: the proxy refused the credentials (${msg}): check proxy.username and proxy.password`;
  }
  if (/proxy/i.test(msg)) return `proxy: ${msg}: check proxy.url`;
  if (isOutpostError(err, ErrorCode.Forbidden)) return `Auth: the server refused this device (${msg})`;
  if (isOutpostError(err, ErrorCode.Tls)) {
    return /certificate|alert|handshake/i.test(msg)
      ? `key/certificate: the server refused the device certificate (${msg}): check tls.cert, tls.key and that the server's CA issued them`
      : `TLS: ${msg}`;
  }
  return `connection: ${msg}`;
}

/** Runs a socket step and resolves with its error message, or undefined on success; always destroys the socket. */
function step(
  run: (done: (err: Error | undefined, s: { destroy(): void }) => void) => void,
): Promise<string | undefined> {
  return new Promise((resolve) => {
    let settled = false;
    run((err, s) => {
      if (settled) return;
      settled = true;
      s.destroy();
      resolve(err ? ((err as NodeJS.ErrnoException).code ?? err.message) : undefined);
    });
  });
}
