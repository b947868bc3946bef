import type { Agent } from "node:http";
import { connect as tcpConnect, isIP, type Socket } from "node:net";
import {
  type ConnectionOptions,
  createSecureContext,
  type SecureContext,
  type TLSSocket,
  connect as tlsConnect,
} from "node:tls";
import type { Transport } from "@outpost/protocol";
import {
  AbortError,
  ConnectionClosedError,
  DEFAULT_LIMITS,
  ErrorCode,
  errorFromStatus,
  InboundFrames,
  isOutpostError,
  LimitError,
  OutboundBytes,
  OutpostError,
  ProtocolError,
  TimeoutError,
} from "@outpost/protocol";
import WebSocket from "ws";
import { type Logger, silentLogger } from "../logger.js";
import { openTunnel, type ProxySetting, type ResolvedProxy, resolveProxy } from "./proxy.js";
import { checkPins, identityChecker, isTlsFailure, type TlsOptions } from "./tls.js";
import type { TlsSessionCache } from "./tls-session.js";

const DEFAULT_MAX_BUFFERED_BYTES = 32 * 1024 * 1024;
const DEFAULT_RECEIVE_HIGH_WATER_BYTES = 4 * 1024 * 1024;

/**
 * The WebSocket masking key of every frame we send over `wss:`: zero, so `ws` neither copies nor XORs each
 * payload (RFC 6455 asks for a random key; see docs/protocol.md §1 for why not here). Masking keeps
 * untrusted script from steering the bytes an intercepting proxy sees on a cleartext connection;
 * over TLS, with payloads made here, it would cost a pass over every byte and protect nothing. A
 * cleartext `ws:` URL keeps ws's random key.
 */
function zeroMask(mask: Buffer): void {
  mask.fill(0);
}

/**
 * HTTP answers to the upgrade that mean the url names something other than an edge endpoint (a
 * wrong path, a plain web server). They are OUTPOST_INVALID_CONFIG, so a device configured with a
 * wrong url stops instead of retrying forever.
 */
const WRONG_ENDPOINT = new Set([400, 404, 405, 410, 426]);
/** Options of {@link connectWebSocket}. */
export interface WebSocketTransportOptions {
  /** Server trust and device identity. */
  tls: TlsOptions;
  /** Largest inbound WebSocket message in bytes. Default: the protocol's maxFrameBytes (1 MiB) + 1 KiB. */
  maxPayload?: number;
  /**
   * Interval between WebSocket pings this side sends. Default 0: the server drives liveness (it
   * pings, the device answers and watches for silence, see `idleTimeoutMs`). Set it only for a link
   * whose NAT forgets a connection sooner than the server pings.
   */
  pingIntervalMs?: number;
  /** With `pingIntervalMs`: the transport is closed with OUTPOST_TIMEOUT when a pong takes longer than this. Default 10_000 ms. */
  pongTimeoutMs?: number;
  /**
   * The transport is closed with OUTPOST_TIMEOUT when nothing (no message, ping or pong) has arrived
   * for this long, so a dead link is noticed even though this side does not ping. Default: 2 × the
   * ping interval the server announces in HelloAck + 1 s ({@link expectPingsEvery}), and 61_000 ms
   * (for the reference server's default 30 s) until then or when it announces none. 0 disables it.
   */
  idleTimeoutMs?: number;
  /**
   * Unsent bytes beyond which the server is taken to have stopped reading: the connection is
   * terminated (closed() resolves with OUTPOST_LIMIT_EXCEEDED) and send() throws
   * OUTPOST_CONNECTION_CLOSED. Default 32 MiB.
   */
  maxBufferedBytes?: number;
  /**
   * Received bytes not yet read by the Channel at which the socket stops reading, so the server's
   * sends wait in the network instead of in this process; reading resumes at half. Default 4 MiB.
   */
  receiveHighWaterBytes?: number;
  /** Limit for TCP + TLS + WebSocket upgrade. Default 15_000 ms. */
  connectTimeoutMs?: number;
  /**
   * HTTP proxy (CONNECT tunnel, TLS to the server inside it). Default: `https_proxy` / `HTTPS_PROXY`
   * with `no_proxy` / `NO_PROXY` from `env`; `false` connects directly. See {@link ProxySetting}.
   */
  proxy?: ProxySetting;
  /** Environment the default proxy setting is read from. Default process.env. */
  env?: NodeJS.ProcessEnv;
  /**
   * Local (source) address of the connection, for a gateway with several interfaces. Default: the
   * operating system's choice. Not used with `agent` or through a proxy.
   */
  localAddress?: string;
  /** Where TLS sessions are kept between connections, to resume them. Default: none (every handshake is full). */
  tlsSessions?: TlsSessionCache;
  /** HTTP agent for the upgrade request. When given, `proxy` and the environment are not used. Default: a fresh connection. */
  agent?: Agent;
  /** Cancels the connection attempt. */
  signal?: AbortSignal;
  /** Receives warnings (insecure mode) and debug lines. Default: silent. */
  logger?: Logger;
}

const contexts = new WeakMap<TlsOptions, SecureContext>();

/**
 * One TLS context per set of device credentials, made at the first connection and reused by every
 * reconnect: parsing the key, the certificate and the CA costs more CPU than the TLS client's part
 * of a resumed handshake, and a gateway (or a fleet coming back after a server restart) retries often.
 */
function secureContextOf(tls: TlsOptions): SecureContext {
  let context = contexts.get(tls);
  if (!context) {
    context = createSecureContext({
      ca: tls.ca,
      ...(tls.cert !== undefined && { cert: tls.cert }),
      ...(tls.key !== undefined && { key: tls.key }),
      ...(tls.passphrase !== undefined && { passphrase: tls.passphrase }),
      minVersion: "TLSv1.2",
    });
    contexts.set(tls, context);
  }
  return context;
}

/** Opens a WebSocket-over-TLS connection to `url` (wss://) and returns it as a Transport. */
export function connectWebSocket(url: string, options: WebSocketTransportOptions): Promise<Transport> {
  const logger = options.logger ?? silentLogger;
  const { tls } = options;
  if (!url.startsWith("wss://")) {
    return Promise.reject(new OutpostError(ErrorCode.InvalidConfig, `url must start with wss://, got ${url}`));
  }
  if (options.signal?.aborted) return Promise.reject(new AbortError("connect aborted"));
  const insecure = tls.insecureSkipVerify === true;
  if (insecure) logger.warn("TLS server certificate verification is DISABLED (insecureSkipVerify)", { url });
  const pins = tls.pins ?? [];
  let proxy: ResolvedProxy | undefined;
  let host: string;
  let port: number;
  try {
    const target = new URL(url);
    host = target.hostname.startsWith("[") ? target.hostname.slice(1, -1) : target.hostname;
    port = target.port === "" ? 443 : Number(target.port);
    proxy = options.agent === undefined ? resolveProxy(options.proxy, host, port, options.env) : undefined;
  } catch (err) {
    return Promise.reject(
      isOutpostError(err) ? err : new OutpostError(ErrorCode.InvalidConfig, `url is not a valid url: ${url}`),
    );
  }
  // A TLS 1.3 server judges the client certificate after the handshake has completed on the
  // client's side and then just closes the socket, so the refusal surfaces as a hang-up. Knowing
  // that the handshake completed lets that hang-up be reported as the certificate refusal it is.
  let handshakeDone = false;
  const createConnection =
    (tunnel: Socket | undefined) =>
    (opts: ConnectionOptions): TLSSocket => {
      const session = options.tlsSessions?.get(url);
      const socket = tlsConnect({
        ...opts,
        secureContext: secureContextOf(tls),
        // SNI and the certificate check use the server's name, also inside a proxy's tunnel (never
        // the proxy's). Without a servername Node sends no SNI at all.
        servername: tls.servername ?? (isIP(host) ? "" : host),
        ...(tunnel !== undefined && { socket: tunnel, path: undefined }),
        ...(session !== undefined && { session }),
      });
      socket.once("secureConnect", () => {
        handshakeDone = true;
      });
      const sessions = options.tlsSessions;
      if (sessions) socket.on("session", (s: Buffer) => sessions.set(url, s));
      return socket;
    };
  const open = (tunnel: Socket | undefined): WebSocket => {
    const ws = new WebSocket(url, {
      ca: tls.ca,
      ...(tls.cert !== undefined && { cert: tls.cert }),
      ...(tls.key !== undefined && { key: tls.key }),
      ...(tls.passphrase !== undefined && { passphrase: tls.passphrase }),
      ...(tls.servername !== undefined && { servername: tls.servername }),
      ...(options.agent !== undefined ? { agent: options.agent } : { createConnection: createConnection(tunnel) }),
      ...(options.agent === undefined &&
        tunnel === undefined &&
        options.localAddress !== undefined && { localAddress: options.localAddress }),
      minVersion: "TLSv1.2",
      rejectUnauthorized: !insecure,
      checkServerIdentity: identityChecker(pins),
      maxPayload: options.maxPayload ?? DEFAULT_LIMITS.maxFrameBytes + 1024,
      perMessageDeflate: false,
      followRedirects: false,
      ...(String(url).startsWith("wss:") && { generateMask: zeroMask }),
    } as unknown as WebSocket.ClientOptions);
    ws.binaryType = "nodebuffer";
    return ws;
  };

  return new Promise<Transport>((resolve, reject) => {
    let settled = false;
    let ws: WebSocket | undefined;
    const tunnelAbort = new AbortController();
    const fail = (err: Error): void => {
      if (settled) return;
      settled = true;
      cleanup();
      // A refused handshake may be about this session (the server's keys changed): start afresh.
      if (isOutpostError(err, ErrorCode.Tls)) options.tlsSessions?.delete(url);
      tunnelAbort.abort();
      ws?.removeAllListeners();
      ws?.on("error", () => {});
      ws?.terminate();
      reject(err);
    };
    const onAbort = (): void => fail(new AbortError("connect aborted"));
    const timer = setTimeout(
      () => fail(new TimeoutError(`connecting to ${url}${proxy ? ` through proxy ${proxy.label}` : ""} timed out`)),
      options.connectTimeoutMs ?? 15_000,
    );
    const cleanup = (): void => {
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
    };
    options.signal?.addEventListener("abort", onAbort, { once: true });

    const start = (tunnel: Socket | undefined): void => {
      if (settled) {
        tunnel?.destroy();
        return;
      }
      const socket = open(tunnel);
      ws = socket;
      watch(socket);
    };
    const watch = (ws: WebSocket): void => {
      ws.on("unexpected-response", (req, res) => {
        req.destroy();
        const status = res.statusCode ?? 0;
        const text = `server refused the WebSocket upgrade with HTTP ${status}`;
        if (WRONG_ENDPOINT.has(status)) {
          const hint = `${text}: ${url} is not an Outpost edge endpoint (check its host, port and path)`;
          fail(new OutpostError(ErrorCode.InvalidConfig, hint, { status }));
          return;
        }
        fail(status >= 500 ? new OutpostError(ErrorCode.Unavailable, text, { status }) : errorFromStatus(status, text));
      });
      ws.on("upgrade", (res) => {
        if (pins.length === 0) return;
        const socket = res.socket as TLSSocket;
        const pinError = checkPins(socket.getPeerCertificate?.(true), pins);
        if (pinError) fail(pinError);
      });
      const refusedAfterHandshake = (): OutpostError | undefined =>
        handshakeDone && tls.cert !== undefined
          ? new OutpostError(
              ErrorCode.Tls,
              `${url} closed the connection right after the TLS handshake: the server refused the device certificate (untrusted issuer, expired or not yet valid)`,
            )
          : undefined;
      ws.on("error", (err) =>
        fail(isTlsFailure(err) ? mapSocketError(err, url) : (refusedAfterHandshake() ?? mapSocketError(err, url))),
      );
      ws.on("close", () =>
        fail(refusedAfterHandshake() ?? new ConnectionClosedError(`connection to ${url} closed during the handshake`)),
      );
      ws.on("open", () => {
        if (settled) return;
        settled = true;
        cleanup();
        ws.removeAllListeners();
        resolve(new WebSocketTransport(ws, options));
      });
    };

    if (options.agent !== undefined) start(undefined);
    else if (proxy === undefined) {
      // TCP first: a refused or unreachable server then costs this attempt one socket, not a TLS
      // client, a key share and a WebSocket (a fleet retries often while its server restarts).
      const tcp = tcpConnect({
        host,
        port,
        ...(options.localAddress !== undefined && { localAddress: options.localAddress }),
      });
      tunnelAbort.signal.addEventListener("abort", () => tcp.destroy(), { once: true });
      tcp.once("error", (err) => fail(mapSocketError(err, url)));
      tcp.once("connect", () => {
        tcp.removeAllListeners("error");
        start(tcp);
      });
    } else {
      logger.debug("connecting through an HTTP proxy", { url, proxy: proxy.label });
      openTunnel(proxy, host, port, { signal: tunnelAbort.signal }).then(start, fail);
    }
  });
}

/** Maps a socket-level error to a typed error: OUTPOST_TLS for certificate failures, else OUTPOST_UNAVAILABLE. */
export function mapSocketError(err: Error, url: string): OutpostError {
  if (isOutpostError(err)) return err;
  if (isTlsFailure(err))
    return new OutpostError(ErrorCode.Tls, `TLS failure with ${url}: ${err.message}`, { cause: err });
  return new OutpostError(ErrorCode.Unavailable, `cannot reach ${url}: ${err.message}`, { cause: err });
}

/** The device's silence limit for a server that pings every `pingIntervalMs` (docs/protocol.md §1). */
export function idleTimeoutFor(pingIntervalMs: number): number {
  return 2 * pingIntervalMs + 1_000;
}

/** The silence limit until the server announces its ping interval: that of the reference server's default 30 s. */
const DEFAULT_IDLE_TIMEOUT_MS = idleTimeoutFor(30_000);

/** A transport that watches for silence and can be told how often the server pings. */
export interface SilenceWatch {
  /** The server announced that it pings every `pingIntervalMs`: the silence limit follows it (unless set by option). */
  expectPingsEvery(pingIntervalMs: number): void;
}

/** Whether `t` is a {@link SilenceWatch} (the WebSocket transport is; test transports need not be). */
export function isSilenceWatch(t: unknown): t is SilenceWatch {
  return typeof (t as Partial<SilenceWatch>).expectPingsEvery === "function";
}

/**
 * A Transport over an open `ws` client socket: binary frames only. Liveness: the server pings; this
 * side answers (ws does) and closes the connection after `idleTimeoutMs` of silence.
 */
class WebSocketTransport implements Transport, SilenceWatch {
  readonly frames: InboundFrames;
  private readonly outbound = new OutboundBytes();
  private error: Error | undefined;
  private readonly done: Promise<Error | undefined>;
  private pingTimer: NodeJS.Timeout | undefined;
  private pongTimer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private idleTimeoutMs: number;
  private readonly idleTimeoutFixed: boolean;
  private lastHeard = Date.now();
  private readonly maxBufferedBytes: number;

  constructor(
    private readonly ws: WebSocket,
    options: Pick<
      WebSocketTransportOptions,
      "pingIntervalMs" | "pongTimeoutMs" | "idleTimeoutMs" | "maxBufferedBytes" | "receiveHighWaterBytes"
    >,
  ) {
    this.idleTimeoutFixed = options.idleTimeoutMs !== undefined;
    this.idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    this.maxBufferedBytes = options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
    this.frames = new InboundFrames({
      highWaterBytes: options.receiveHighWaterBytes ?? DEFAULT_RECEIVE_HIGH_WATER_BYTES,
      pause: () => ws.pause(),
      resume: () => ws.resume(),
    });
    this.done = new Promise((resolve) => {
      ws.on("close", (code, reason) => {
        this.stopTimers();
        if (!this.error && code !== 1000 && code !== 1001) {
          this.error = new ConnectionClosedError(`connection closed (${code}${reason.length ? ` ${reason}` : ""})`);
        }
        this.frames.end();
        this.outbound.close();
        resolve(this.error);
      });
    });
    ws.on("error", (err) => {
      this.error ??= mapSocketError(err, ws.url);
    });
    ws.on("message", (data, isBinary) => {
      this.lastHeard = Date.now();
      if (!isBinary) {
        void this.close(new ProtocolError(ErrorCode.UnexpectedFrame, "text WebSocket messages are not allowed"));
        return;
      }
      this.frames.push(data as Buffer);
    });
    ws.on("ping", () => {
      this.lastHeard = Date.now();
    });
    ws.on("pong", () => {
      this.lastHeard = Date.now();
      clearTimeout(this.pongTimer);
      this.pongTimer = undefined;
    });
    this.armIdle(this.idleTimeoutMs);
    const interval = options.pingIntervalMs ?? 0;
    const pongTimeout = options.pongTimeoutMs ?? 10_000;
    if (interval > 0) {
      this.pingTimer = setInterval(() => {
        if (ws.readyState !== WebSocket.OPEN) return;
        ws.ping();
        this.pongTimer ??= setTimeout(() => {
          this.error ??= new TimeoutError(`no pong within ${pongTimeout} ms`);
          ws.terminate();
        }, pongTimeout);
      }, interval);
      this.pingTimer.unref();
    }
  }

  /** Bytes given to send() whose write the socket has not yet completed. */
  get bufferedBytes(): number {
    return this.outbound.bytes;
  }

  drain(lowWaterBytes = 0): Promise<void> {
    return this.outbound.drain(lowWaterBytes);
  }

  send(frame: Uint8Array): void {
    if (this.ws.readyState !== WebSocket.OPEN) throw new ConnectionClosedError("transport is closed");
    const n = frame.byteLength;
    this.outbound.add(n);
    this.ws.send(frame, { binary: true }, () => this.outbound.done(n));
    // Every received request gets an answer: a server that sends but does not read would
    // otherwise grow this buffer without bound.
    if (this.outbound.bytes > this.maxBufferedBytes) {
      const err = new LimitError(
        ErrorCode.LimitExceeded,
        `server does not read: more than ${this.maxBufferedBytes} bytes unsent`,
      );
      this.error ??= err;
      this.ws.terminate();
      // The frame is lost with the connection: to the caller this is a closed connection (retried).
      throw new ConnectionClosedError(err.message, { cause: err });
    }
  }

  async close(error?: Error): Promise<void> {
    this.error ??= error;
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) {
      this.ws.close(error ? 1011 : 1000);
      // A peer that never answers the close handshake must not hold the socket open.
      const force = setTimeout(() => this.ws.terminate(), 2_000);
      force.unref();
      await this.done;
      clearTimeout(force);
      return;
    }
    if (this.ws.readyState === WebSocket.CLOSING) await this.done;
  }

  closed(): Promise<Error | undefined> {
    return this.done;
  }

  expectPingsEvery(pingIntervalMs: number): void {
    if (this.idleTimeoutFixed || !(pingIntervalMs > 0) || this.ws.readyState !== WebSocket.OPEN) return;
    this.idleTimeoutMs = idleTimeoutFor(pingIntervalMs);
    clearTimeout(this.idleTimer);
    this.armIdle(Math.max(0, this.lastHeard + this.idleTimeoutMs - Date.now()));
  }

  /** One timer per connection, re-armed only when it fires: traffic costs a Date.now() and no timer work. */
  private armIdle(delayMs: number): void {
    if (!(this.idleTimeoutMs > 0)) return;
    this.idleTimer = setTimeout(() => {
      const silentFor = Date.now() - this.lastHeard;
      if (silentFor < this.idleTimeoutMs) {
        this.armIdle(this.idleTimeoutMs - silentFor);
        return;
      }
      this.error ??= new TimeoutError(`nothing heard from the server for ${silentFor} ms`);
      this.ws.terminate();
    }, delayMs);
    this.idleTimer.unref();
  }

  private stopTimers(): void {
    clearInterval(this.pingTimer);
    clearTimeout(this.pongTimer);
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }
}
