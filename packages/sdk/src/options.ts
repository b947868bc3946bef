import type { ProtocolLimits, Stream, Transport } from "@outpost/protocol";
import type { ReconnectOptions } from "./connection/reconnect.js";
import type { FilesOptions } from "./files/vdirs.js";
import type { Logger } from "./logger.js";
import type { QueueOptions } from "./queue/offline-queue.js";
import type { ProxyOptions } from "./transport/proxy.js";
import type { TlsOptions } from "./transport/tls.js";
import type { TunnelOptions } from "./tunnels/options.js";

/** Options of a transport factory call. */
export interface TransportFactoryOptions {
  /** Aborted when the attempt is cancelled (client closed, connect timeout). */
  signal: AbortSignal;
}

/** Opens one connection to `url`. The default opens WebSocket over TLS with the client's `tls` options. */
export type TransportFactory = (url: string, options: TransportFactoryOptions) => Promise<Transport>;

/** Options of {@link EdgeClient}. */
export interface EdgeClientOptions {
  /** Server endpoint, `wss://host:port/path`. */
  url: string;
  /** Further endpoints tried in turn after a failed attempt. Default none. */
  fallbackUrls?: string[];
  /** The device's application key (`opk_...`). Sent only in the Auth step; never logged. */
  appKey: string;
  /** Server trust (CA, pins) and device identity (certificate, key). */
  tls: TlsOptions;
  /**
   * HTTP proxy for every connection: `{ url, username?, password?, noProxy? }`, or a url that may
   * carry the credentials (`http://user:pass@proxy:3128`); the password is never logged. `false`
   * connects directly whatever the environment says. Default: `https_proxy` / `HTTPS_PROXY`, with
   * hosts in `no_proxy` / `NO_PROXY` reached directly. TLS to the server runs inside the proxy's
   * CONNECT tunnel, validated against the server's own name. Ignored with `transportFactory`.
   */
  proxy?: ProxyOptions | string | false;
  /** Reconnect policy; `false` disables reconnecting. Default: on, with the defaults of {@link ReconnectOptions}. */
  reconnect?: ReconnectOptions | false;
  /**
   * Limits we enforce on what we receive (announced in Hello). Default: the protocol defaults, with
   * stream windows of ANNOUNCED_STREAM_WINDOWS (2 MiB per stream, 8 MiB per connection).
   */
  limits?: Partial<ProtocolLimits>;
  /** Default timeout of requests to the server (acks, invoke). Default 30_000 ms. */
  requestTimeoutMs?: number;
  /** Limit for one connection attempt: TLS, WebSocket upgrade, Hello, Auth and Bind. Default 15_000 ms. */
  connectTimeoutMs?: number;
  /**
   * WebSocket pings this device sends; the connection is dropped when a pong takes over 10 s.
   * Default 0 (none): the server pings and the device watches for silence (`idleTimeoutMs`). Set it
   * only where a NAT forgets an idle connection sooner than the server pings.
   */
  pingIntervalMs?: number;
  /**
   * The connection is dropped (and retried) when nothing — no message, no ping — has arrived from
   * the server for this long. Default: 2 × the ping interval the server announces + 1 s (61_000 ms
   * for the reference server's default 30 s, also used before and without an announcement). 0 disables it.
   */
  idleTimeoutMs?: number;
  /** Offline queue capacity, overflow policy and store. Defaults: 10_000 items, "drop-oldest", in memory. */
  queue?: QueueOptions;
  /** Batching window: property values set within it after an idle period travel in one update. Default 50 ms. */
  flushIntervalMs?: number;
  /** Most property values in one update (also capped by the server's maxBatch). Default 500. */
  maxBatch?: number;
  /** Local (source) address of the connection, for a gateway with several interfaces. Default: the system's choice. */
  localAddress?: string;
  /** Opens connections. Default: WebSocket over TLS. Tests pass an in-memory transport here. */
  transportFactory?: TransportFactory;
  /** Where the client logs. Default: warnings and errors to stderr ({@link warnLogger}); pass `silentLogger` for none. */
  logger?: Logger;
  /** Random source in [0, 1) for backoff jitter. Default Math.random. For tests. */
  random?: () => number;
  /**
   * Receives each stream the server opens (files and tunnels are built on these), on connections
   * where the server announced the "streams" capability. Without it, the server's streams are
   * refused (StreamReset code 1).
   */
  onStream?: (stream: Stream) => void;
  /**
   * Tunnels (docs/tunnels.md): the targets operators may reach by name, approval, limits and audit.
   * Requires `tls.cert` and `tls.key` (the device key signs each session). Default: no tunnels
   * (the server's tunnel streams are refused).
   */
  tunnels?: TunnelOptions;
  /**
   * Virtual directories the server may push files into and pull files from, with the size limit,
   * staging directory, resume expiry and device audit sink (docs/files.md). Default: none (file
   * streams are refused).
   */
  files?: FilesOptions;
}

/** Options of {@link EdgeClient.connect}. */
export interface ConnectOptions {
  /** Stops connecting: rejects with OUTPOST_ABORTED and stops the reconnect loop when not yet connected. */
  signal?: AbortSignal;
}

/** Options of {@link EdgeClient.invoke}. */
export interface InvokeOptions {
  /** Deadline, also sent to the server. Default: the client's requestTimeoutMs. */
  timeoutMs?: number;
  /** Cancels waiting for the result. */
  signal?: AbortSignal;
}

/** Options of {@link EdgeClient.flush}. */
export interface FlushOptions {
  /** Stops waiting (rejects with OUTPOST_ABORTED); queued items stay queued. */
  signal?: AbortSignal;
}

/** Options of {@link EdgeClient.close}. */
export interface CloseOptions {
  /** Wait for queued items to be acknowledged first. Default true. */
  flush?: boolean;
  /** Bound on that wait; whatever is still queued then stays in the store. Default 10_000 ms. */
  timeoutMs?: number;
}
