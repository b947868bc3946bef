import { BlockList, connect as netConnect, isIP, isIPv6, type Socket } from "node:net";
import { AbortError, ErrorCode, OutpostError } from "@outpost/protocol";

/**
 * An HTTP proxy for the device connection. The connection is tunnelled with HTTP CONNECT; TLS to the
 * server runs inside the tunnel end to end, validated against the server's own name, so the proxy
 * sees only ciphertext.
 */
export interface ProxyOptions {
  /**
   * `http://host:port`. Credentials may be given in it, percent-encoded (`http://user:p%40ss@host:3128`);
   * `username` / `password` take precedence. A url without a scheme is taken as http://, without a
   * port as port 1080 (as curl does). https:// proxies are not supported.
   */
  url: string;
  /** Basic authentication user name. Default: the url's, else none. */
  username?: string;
  /** Basic authentication password. Default: the url's, else none. Never logged. */
  password?: string;
  /**
   * Hosts reached directly, in NO_PROXY syntax (see {@link matchesNoProxy}). Default none: every
   * connection goes through this proxy. The NO_PROXY environment variable applies only to a proxy
   * taken from the environment.
   */
  noProxy?: string;
}

/**
 * A proxy setting: options, a url string (credentials allowed in it), `false` for a direct
 * connection whatever the environment says, or undefined for the environment (`https_proxy`, else
 * `HTTPS_PROXY`, with `no_proxy` / `NO_PROXY`).
 */
export type ProxySetting = ProxyOptions | string | false | undefined;

/** A parsed proxy. `label` (`http://host:port`) is what messages show: it never holds credentials. */
export interface ResolvedProxy {
  readonly host: string;
  readonly port: number;
  readonly label: string;
  /** The Proxy-Authorization header value, when credentials are set. */
  readonly authorization: string | undefined;
  readonly noProxy: string;
}

const DEFAULT_PROXY_PORT = 1080;
const MAX_RESPONSE_HEAD_BYTES = 16 * 1024;

/** Parses a proxy setting. Throws OUTPOST_INVALID_CONFIG naming the problem (never the password). */
export function parseProxy(setting: ProxyOptions | string): ResolvedProxy {
  const options = typeof setting === "string" ? { url: setting } : setting;
  const bad = (why: string): never => {
    throw new OutpostError(ErrorCode.InvalidConfig, `proxy: ${why}`);
  };
  if (!options || typeof options.url !== "string" || options.url.trim() === "") bad("url must be a non-empty string");
  const raw = options.url.trim();
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `http://${raw}`);
  } catch {
    return bad("url is not a valid http://host:port url");
  }
  if (url.protocol !== "http:") bad(`only http:// proxies are supported, got ${url.protocol}//`);
  if (url.hostname === "") bad("url has no host");
  if (url.pathname !== "/" && url.pathname !== "") bad("url must not have a path");
  const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  const port = url.port === "" ? DEFAULT_PROXY_PORT : Number(url.port);
  const decode = (s: string): string => {
    try {
      return decodeURIComponent(s);
    } catch {
      return bad("url credentials are not valid percent-encoding");
    }
  };
  const username = options.username ?? (url.username === "" ? undefined : decode(url.username));
  const password = options.password ?? (url.password === "" ? undefined : decode(url.password));
  if (username?.includes(":")) bad("username must not contain ':' (Basic authentication)");
  const authorization =
    username === undefined && password === undefined
      ? undefined
      : `Basic ${Buffer.from(`${username ?? ""}:${password ?? ""}`, "utf8").toString("base64")}`;
  return {
    host,
    port,
    label: `http://${isIPv6(host) ? `[${host}]` : host}:${port}`,
    authorization,
    noProxy: options.noProxy ?? "",
  };
}

/**
 * The proxy to use for a connection to `host:port`, or undefined for a direct connection. An
 * explicit setting wins over the environment; a host matched by the setting's `noProxy` (or, for
 * the environment's proxy, by NO_PROXY) is reached directly.
 */
export function resolveProxy(
  setting: ProxySetting,
  host: string,
  port: number,
  env: NodeJS.ProcessEnv = process.env,
): ResolvedProxy | undefined {
  if (setting === false) return undefined;
  let proxy: ResolvedProxy;
  if (setting === undefined) {
    const fromEnv = env.https_proxy ?? env.HTTPS_PROXY;
    if (fromEnv === undefined || fromEnv.trim() === "") return undefined;
    proxy = { ...parseProxy(fromEnv), noProxy: env.no_proxy ?? env.NO_PROXY ?? "" };
  } else {
    proxy = parseProxy(setting);
  }
  return matchesNoProxy(proxy.noProxy, host, port) ? undefined : proxy;
}

/**
 * Whether `host:port` is exempt from the proxy by a NO_PROXY list: entries separated by commas or
 * spaces, compared case-insensitively. `*` alone matches every host. A name matches itself and
 * every subdomain (`example.com` and `.example.com` both match `example.com` and `a.example.com`,
 * not `notexample.com`). An IP address matches itself; `10.0.0.0/8` or `fd00::/8` match a range
 * (IPv6 written without brackets, as curl wants, or `[::1]:port`). An entry with `:port` matches
 * that port only. Loopback hosts are not exempt by themselves (as in curl): list `localhost`,
 * `127.0.0.1` and `::1` when they must be reached directly.
 */
export function matchesNoProxy(noProxy: string, host: string, port: number): boolean {
  const target = normalizeHost(host);
  for (const raw of noProxy.split(/[\s,]+/)) {
    const entry = raw.trim().toLowerCase();
    if (entry === "") continue;
    if (entry === "*") return true;
    const { name, entryPort } = splitPort(entry);
    if (entryPort !== undefined && entryPort !== port) continue;
    if (matchesEntry(name, target)) return true;
  }
  return false;
}

function matchesEntry(name: string, target: string): boolean {
  const slash = name.indexOf("/");
  if (slash > 0) {
    const address = name.slice(0, slash);
    const bits = Number(name.slice(slash + 1));
    const family = isIP(address);
    const targetFamily = isIP(target);
    if (family === 0 || targetFamily !== family || !Number.isInteger(bits)) return false;
    const type = family === 4 ? "ipv4" : "ipv6";
    if (bits < 0 || bits > (family === 4 ? 32 : 128)) return false;
    const list = new BlockList();
    list.addSubnet(address, bits, type);
    return list.check(target, type);
  }
  const bare = name.replace(/^\*?\./, "").replace(/\.$/, "");
  if (bare === "") return false;
  if (isIP(bare) !== 0 || isIP(target) !== 0) return bare === target;
  return target === bare || target.endsWith(`.${bare}`);
}

function splitPort(entry: string): { name: string; entryPort: number | undefined } {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
  if (bracketed)
    return { name: bracketed[1]!, entryPort: bracketed[2] === undefined ? undefined : Number(bracketed[2]) };
  const colon = entry.lastIndexOf(":");
  // More than one colon without brackets is an IPv6 address (with an optional /bits), not host:port.
  if (colon > 0 && entry.indexOf(":") === colon && /^\d+$/.test(entry.slice(colon + 1))) {
    return { name: entry.slice(0, colon), entryPort: Number(entry.slice(colon + 1)) };
  }
  return { name: entry, entryPort: undefined };
}

function normalizeHost(host: string): string {
  const h = host.toLowerCase().replace(/\.$/, "");
  return h.startsWith("[") && h.endsWith("]") ? h.slice(1, -1) : h;
}

/** Options of {@link openTunnel}. */
export interface TunnelOptions {
  /** Cancels the tunnel (OUTPOST_ABORTED); the caller's deadline aborts through it too. */
  signal?: AbortSignal;
}

/**
 * Connects to the proxy and asks it for a tunnel to `host:port` with HTTP CONNECT. Resolves with
 * the socket once the proxy answers 2xx; the caller runs TLS over it. Rejects with:
 * OUTPOST_PROXY_AUTH (407: credentials missing or refused), OUTPOST_INVALID_CONFIG with `status`
 * (403: the proxy's rules refuse this destination; other 4xx: the proxy does not do CONNECT),
 * OUTPOST_UNAVAILABLE (the proxy cannot be reached, hangs up, or answers 5xx such as 502 when it
 * cannot reach the server), OUTPOST_ABORTED.
 */
export function openTunnel(
  proxy: ResolvedProxy,
  host: string,
  port: number,
  options: TunnelOptions = {},
): Promise<Socket> {
  const { signal } = options;
  if (signal?.aborted) return Promise.reject(new AbortError("connect aborted"));
  const authority = `${isIPv6(host) ? `[${host}]` : host}:${port}`;
  return new Promise<Socket>((resolve, reject) => {
    const socket = netConnect({ host: proxy.host, port: proxy.port });
    let head = Buffer.alloc(0);
    let done = false;
    const finish = (err: Error | undefined): void => {
      if (done) return;
      done = true;
      signal?.removeEventListener("abort", onAbort);
      socket.removeListener("data", onData);
      socket.removeListener("error", onError);
      socket.removeListener("close", onClose);
      if (err) {
        socket.destroy();
        reject(err);
      }
    };
    const onAbort = (): void => finish(new AbortError("connect aborted"));
    const onError = (err: Error): void =>
      finish(
        new OutpostError(ErrorCode.Unavailable, `cannot reach proxy ${proxy.label}: ${err.message}`, { cause: err }),
      );
    const onClose = (): void =>
      finish(
        new OutpostError(
          ErrorCode.Unavailable,
          `proxy ${proxy.label} closed the connection before answering CONNECT ${authority}`,
        ),
      );
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf("\r\n\r\n");
      if (end < 0) {
        if (head.length > MAX_RESPONSE_HEAD_BYTES) {
          finish(
            new OutpostError(
              ErrorCode.Unavailable,
              `proxy ${proxy.label} sent more than ${MAX_RESPONSE_HEAD_BYTES} bytes without ending its answer`,
            ),
          );
        }
        return;
      }
      const statusLine = head.subarray(0, head.indexOf("\r\n")).toString("latin1");
      const match = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(statusLine);
      const status = match ? Number(match[1]) : 0;
      const err = match
        ? connectRefusal(proxy, authority, status, match[2] ?? "")
        : new OutpostError(ErrorCode.Unavailable, `proxy ${proxy.label} sent an answer that is not HTTP/1.x`);
      if (err) {
        finish(err);
        return;
      }
      const rest = head.subarray(end + 4);
      finish(undefined);
      socket.pause();
      if (rest.length > 0) socket.unshift(rest);
      resolve(socket);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    socket.on("error", onError);
    socket.on("close", onClose);
    socket.on("data", onData);
    socket.once("connect", () => {
      const lines = [`CONNECT ${authority} HTTP/1.1`, `Host: ${authority}`];
      if (proxy.authorization !== undefined) lines.push(`Proxy-Authorization: ${proxy.authorization}`);
      socket.write(`${lines.join("\r\n")}\r\n\r\n`);
    });
  });
}

/** The error for a proxy's answer to CONNECT, or undefined when it opened the tunnel. */
function connectRefusal(
  proxy: ResolvedProxy,
  authority: string,
  status: number,
  reason: string,
): OutpostError | undefined {
  if (status >= 200 && status < 300) return undefined;
  const answer = `HTTP ${status}${reason ? ` ${reason}` : ""}`;
  if (status === 407) {
    const why =
      proxy.authorization === undefined
        ? "requires authentication: set the proxy username and password"
        : "refused the credentials: check the proxy username and password";
    return new OutpostError(ErrorCode.ProxyAuth, `proxy ${proxy.label} ${why} (${answer})`, { status });
  }
  if (status === 403) {
    return new OutpostError(
      ErrorCode.InvalidConfig,
      `proxy ${proxy.label} refused to open a tunnel to ${authority} (${answer}): its rules do not allow this destination or port`,
      { status },
    );
  }
  if (status >= 500) {
    return new OutpostError(
      ErrorCode.Unavailable,
      `proxy ${proxy.label} could not open a tunnel to ${authority} (${answer})`,
      { status },
    );
  }
  return new OutpostError(
    ErrorCode.InvalidConfig,
    `proxy ${proxy.label} refused CONNECT ${authority} (${answer}): is it an HTTP proxy that allows CONNECT?`,
    { status },
  );
}
