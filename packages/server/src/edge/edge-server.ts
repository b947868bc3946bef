import { createServer, type Server } from "node:https";
import { type AddressInfo, createServer as createTcpServer, type Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import { Channel, encodeFrame, ErrorCode, GoodbyeReason, type ProtocolLimits } from "@outpost/protocol";
import { WebSocketServer } from "ws";
import { sqliteUnder } from "../registry/sqlite-under.js";
import { Admission } from "./admission.js";
import type { EdgeDeps } from "./context.js";
import { defaultMaxConnections, openFileLimit } from "./fd-limit.js";
import { auditThrottled, installHandshakeGate } from "./handshake.js";
import { PendingConnections } from "./pending.js";
import { DEFAULT_RECONNECT_RATE, FleetSize, reconnectWindowMs } from "./reconnect-window.js";
import { EdgeSession, type StreamHandler } from "./session.js";
import { edgeTlsOptions } from "./tls.js";
import { startRevocationWatch } from "./revocation-watch.js";
import { DEFAULT_PING_INTERVAL_MS, WsTransport } from "./ws-transport.js";

/** Edge endpoint options: where devices connect. */
export interface EdgeEndpointOptions {
  /** Interface to listen on. Default "127.0.0.1". */
  host?: string;
  /** Port; 0 picks a free one. Default 8443. */
  port?: number;
  /** Server certificate (PEM), signed by the CA devices trust. */
  certPem: string;
  keyPem: string;
  /** CA (PEM) that signs device certificates. */
  clientCaPem: string;
  /**
   * "required" refuses a TLS handshake without a valid device certificate. "optional" also accepts
   * devices without one and lets the application key alone identify them: for development only.
   * Default "required".
   */
  clientCert?: "required" | "optional";
  /** A connection that has not authenticated by then gets Goodbye and is closed, in ms. Default 10 000. */
  authDeadlineMs?: number;
  /** Interval of WebSocket pings, announced to devices in HelloAck; a device that misses one is disconnected, in ms. Default 30 000. */
  pingIntervalMs?: number;
  /**
   * Bytes the server may hold unsent for one device; a device that stops reading while it keeps
   * sending requests is disconnected beyond it. Default 32 MiB.
   */
  sendBufferBytes?: number;
  /**
   * Connections that have not yet authenticated, at most; more are closed at once (1013, try again
   * later) so a flood of handshakes cannot hold memory for the auth deadline. Default 1000.
   */
  maxUnauthenticated?: number;
  /**
   * Of those, at most this many from one source address, so one address cannot fill
   * `maxUnauthenticated`. Devices behind one NAT share an address: raise it for them. Default 100.
   */
  maxUnauthenticatedPerSource?: number;
  /**
   * Of those, at most this many presenting one certificate identity (device id), so one
   * certificate cannot fill `maxUnauthenticated`. A device needs one at a time; a flaky link may leave
   * a few behind until the server sees them close. Default 8.
   */
  maxUnauthenticatedPerIdentity?: number;
  /**
   * Connections between TCP accept and a successful Auth (TLS handshake, WebSocket upgrade, Hello,
   * Auth) at most. Further connections wait, unread, for a slot, so a fleet reconnecting at once
   * is served at the rate the CPU allows instead of every handshake timing out. Each slot is held
   * for about three round trips to the device plus the server's work, and a slot that waits for
   * the device costs no CPU: too few slots let slow devices or links hold them all while the CPU
   * idles. Default 512.
   */
  maxHandshakes?: number;
  /**
   * Devices per second the server expects to take back after a restart. Each device is told at
   * Auth to spread its retries, after losing the connection without a Goodbye, over the time the
   * fleet needs at this rate (`AuthResult.reconnect_window_ms`; none under 1 s, at most 10 min):
   * the registered devices, or the devices connected and waiting when more. 0 asks for no
   * spread. Default 200.
   */
  reconnectRatePerSecond?: number;
  /**
   * Connections waiting for a handshake slot at most; more are reset at once (the device retries
   * with its backoff). A waiting connection costs a file descriptor and no CPU, a reset one costs
   * the device a new attempt: the queue holds a whole fleet coming back. Default 10 000.
   */
  maxQueuedConnections?: number;
  /**
   * A connection that waited this long for a handshake slot is reset, in ms; below the devices'
   * connect timeout (SDK: 15 s), so the handshake still has time to finish. Default 12 000.
   */
  queueTimeoutMs?: number;
  /**
   * Open device connections at most; more are reset at accept time. Default: the process's
   * open-file limit less 256 (kept for files, the registry and the audit log); unlimited where the
   * limit cannot be read.
   */
  maxConnections?: number;
  /** Length of the listen queue in the kernel (capped by net.core.somaxconn). Default 1024. */
  listenBacklog?: number;
  /**
   * TLS session ticket keys (48 bytes), asked for again every hour so they can be rotated; kept
   * across restarts, they let devices resume their TLS sessions after one (config/ticket-keys.ts).
   * Default: random keys for this process only.
   */
  ticketKeys?: { current(): Buffer };
  /** How long a TLS session stays resumable, in seconds (TLS 1.3 caps it at 7 days). Default 86 400. */
  tlsSessionLifetimeS?: number;
  /**
   * A device refused because too many connections are authenticating (1013) is told to come back
   * after a time drawn from a tenth of this window to all of it, so a refused crowd does not return
   * all at once, in ms. Default 20 000.
   */
  retryWindowMs?: number;
  /**
   * A key revoked or expired, a device disabled or its certificates revoked by another process
   * (the CLI) cuts the session within this time, in ms: the registry's change counter is read once
   * per interval (edge/revocation-watch.ts). Default 5 000.
   */
  revalidateIntervalMs?: number;
  /**
   * Receives each stream an authenticated device opens, on connections where both sides announced
   * the "streams" capability (files and tunnels are built on these). Without it, streams devices
   * open are refused (StreamReset code 1).
   */
  onStream?: StreamHandler;
}

/** Options for {@link startEdgeServer}: the endpoint's options and the server's shared parts. */
export interface EdgeServerOptions extends EdgeEndpointOptions {
  deps: EdgeDeps;
}

/** The running edge endpoint. */
export interface EdgeServer {
  /** wss://host:port */
  readonly url: string;
  readonly port: number;
  /** Sessions not yet closed, authenticated or not. */
  readonly sessionCount: number;
  /** Connections between accept and Auth, and waiting for a slot, now. */
  readonly admission: { readonly inProgress: number; readonly queued: number; readonly open: number };
  /** Goodbye{SHUTDOWN} to every device, then closes every socket and the listener. */
  close(): Promise<void>;
}

/** Starts the HTTPS + WebSocket listener that devices connect to. */
export async function startEdgeServer(options: EdgeServerOptions): Promise<EdgeServer> {
  const { deps } = options;
  const tlsInput = { certPem: options.certPem, keyPem: options.keyPem, clientCaPem: options.clientCaPem };
  const https: Server = createServer(
    {
      ...edgeTlsOptions(options.clientCert ? { ...tlsInput, clientCert: options.clientCert } : tlsInput),
      handshakeTimeout: deps.authDeadlineMs,
      sessionTimeout: options.tlsSessionLifetimeS ?? 86_400,
      ...(options.ticketKeys && { ticketKeys: options.ticketKeys.current() }),
      // Node's default ALPNProtocols is copied into each socket's options from the small-buffer
      // pool, and that long-lived slice keeps an 8 KiB pool chunk alive per few connections.
      ALPNCallback: ({ protocols }) => (protocols.includes("http/1.1") ? "http/1.1" : undefined),
    },
    async (req, res) => {
      await gate.decided(req.socket);
      if (gate.isRefused(req.socket)) return;
      res.writeHead(426, { "content-type": "text/plain", upgrade: "websocket" });
      res.end("Outpost edge endpoint: WebSocket upgrade required\n");
    },
  );
  // A TLS connection that never sends the upgrade request is not yet a session, so the auth
  // deadline does not cover it and Node's headersTimeout only starts with the first byte. ws clears
  // this timeout when the upgrade succeeds.
  https.on("secureConnection", (socket: TLSSocket) => {
    socket.setTimeout(deps.authDeadlineMs, () => socket.destroy());
  });
  // The SQLite registry answers the certificate status from its cache at once; another registry
  // answers with a Promise, for which the upgrade waits.
  const sqlite = sqliteUnder(deps.registry);
  const gate = installHandshakeGate(https, {
    deps,
    certificateStatus: sqlite
      ? (deviceId, serial) => sqlite.certificateStatus(deviceId, serial)
      : (deviceId, serial) => deps.registry.certificateStatus(deviceId, serial),
    clientCaPem: options.clientCaPem,
    clientCert: options.clientCert ?? "required",
  });
  const wss = new WebSocketServer({
    server: https,
    maxPayload: deps.limits.maxFrameBytes,
    perMessageDeflate: false,
    // A refused handshake is being closed with its alert: no HTTP answer may come before it.
    verifyClient: (info, accept) => {
      const wait = gate.decided(info.req.socket);
      if (!wait) {
        if (!gate.isRefused(info.req.socket)) accept(true);
        return;
      }
      void wait.then(() => {
        if (!gate.isRefused(info.req.socket)) accept(true);
      });
    },
  });
  const sessions = new Map<EdgeSession, Promise<void>>();
  const reconnectRate = options.reconnectRatePerSecond ?? DEFAULT_RECONNECT_RATE;
  const fleet = new FleetSize(
    () => deps.registry.countDevices(),
    (err) => deps.logger.warn({ err }, "could not count the registered devices for the reconnect window"),
  );
  // One function for every session (a closure per connection would cost each its memory).
  const windowNow = (): number =>
    reconnectWindowMs(fleet.estimate(sessions.size + admission.inProgress + admission.queued), reconnectRate);
  const admission = new Admission({
    maxInProgress: options.maxHandshakes ?? 512,
    maxQueued: options.maxQueuedConnections ?? 10_000,
    queueTimeoutMs: options.queueTimeoutMs ?? 12_000,
    maxConnections: options.maxConnections ?? defaultMaxConnections(openFileLimit()),
    start: (socket) => https.emit("connection", socket),
    onPressure: (p) =>
      deps.logger.warn(
        { refused: p.refused, inProgress: p.inProgress, queued: p.queued, open: p.open },
        "connections reset at accept: too many handshakes waiting or too many open connections",
      ),
  });
  const tcp = createTcpServer({ pauseOnConnect: true }, (socket) => {
    gate.noteAccepted(socket);
    if (closing) socket.destroy();
    else admission.offer(socket);
  });
  let lastListenError = Number.NEGATIVE_INFINITY;
  tcp.on("error", (err: Error & { code?: string }) => {
    // Accept failures (EMFILE, ENFILE, ENOBUFS) must not end the process; one line per interval.
    const now = Date.now();
    if (now - lastListenError < 10_000) return;
    lastListenError = now;
    deps.logger.error({ err, code: err.code }, "edge listener error; still serving");
  });
  const retryWindowMs = options.retryWindowMs ?? 20_000;
  const pending = new PendingConnections({
    total: options.maxUnauthenticated ?? 1000,
    perSource: options.maxUnauthenticatedPerSource ?? 100,
    perIdentity: options.maxUnauthenticatedPerIdentity ?? 8,
  });
  let closing = false;

  wss.on("connection", (ws, req) => {
    if (closing) {
      ws.terminate();
      return;
    }
    const socket = req.socket as TLSSocket;
    const raw = (socket as TLSSocket & { _parent?: Socket })._parent ?? socket;
    // A device that gave up while it waited is already gone: its address is the one from accept,
    // not "unknown", which would put every such connection under one source's limit.
    const source = gate.sourceOf(socket);
    const judged = socket.authorized ? gate.identityOf(socket) : undefined;
    const certDeviceId = judged ? judged.certDeviceId || undefined : socket.authorized ? commonName(socket) : undefined;
    const certSerial =
      judged?.serial ?? (certDeviceId === undefined ? undefined : socket.getPeerX509Certificate()?.serialNumber);
    const token = {};
    const refused = pending.admit(token, source, certDeviceId);
    if (refused) {
      const audited = auditThrottled(deps, `pending:${refused}:${source}`, {
        type: "login.failure",
        actor: certDeviceId ? `device:${certDeviceId}` : "unknown",
        outcome: "failure",
        source,
        code: ErrorCode.TooManyRequests,
        details: {
          stage: "upgrade",
          reason: `too many unauthenticated connections (${refused})`,
          certDeviceId: certDeviceId ?? null,
        },
      });
      if (audited) {
        deps.logger.warn({ source, certDeviceId, limit: refused }, "too many unauthenticated connections; refusing");
      }
      const message = "too many connections are authenticating; try again later";
      const goodbye = {
        reason: GoodbyeReason.GOODBYE_UNSPECIFIED,
        message,
        code: ErrorCode.Unavailable,
        reconnectAfterMs: spreadRetry(retryWindowMs),
      };
      ws.send(encodeFrame({ goodbye }), { binary: true });
      ws.close(1013, "try again later");
      return;
    }
    const transport = new WsTransport(ws, {
      ...(options.pingIntervalMs === undefined ? {} : { pingIntervalMs: options.pingIntervalMs }),
      ...(options.sendBufferBytes === undefined ? {} : { maxBufferedBytes: options.sendBufferBytes }),
    });
    const channel = new Channel(transport, {
      limits: preAuthLimits(deps.limits),
      requestTimeoutMs: deps.requestTimeoutMs,
    });
    const session = new EdgeSession({
      channel,
      certDeviceId,
      source,
      deps,
      ...(options.onStream && { onStream: options.onStream }),
      tlsResumed: socket.isSessionReused(),
      ...(certSerial !== undefined && { certSerial }),
      pingIntervalMs: options.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS,
      onAuthenticated: () => {
        pending.release(token);
        admission.authenticated(raw);
      },
      reconnectWindowMs: windowNow,
    });
    sessions.set(
      session,
      session.run().finally(() => {
        sessions.delete(session);
        pending.release(token);
      }),
    );
  });
  wss.on("error", (err) => deps.logger.error({ err }, "edge WebSocket server error"));

  await new Promise<void>((resolve, reject) => {
    tcp.once("error", reject);
    tcp.listen(
      { port: options.port ?? 8443, host: options.host ?? "127.0.0.1", backlog: options.listenBacklog ?? 1024 },
      () => {
        tcp.off("error", reject);
        resolve();
      },
    );
  });
  const port = (tcp.address() as AddressInfo).port;
  const host = options.host ?? "127.0.0.1";
  deps.logger.info({ host, port }, "edge endpoint listening");

  const stopRevocationWatch = startRevocationWatch({
    source: deps.registry.revocations,
    sessions: () => sessions.keys(),
    intervalMs: options.revalidateIntervalMs ?? 5_000,
    logger: deps.logger,
  });
  let ticketKeys = options.ticketKeys?.current();
  const ticketRotation = setInterval(() => {
    try {
      const next = options.ticketKeys?.current();
      if (next && ticketKeys && !next.equals(ticketKeys)) {
        https.setTicketKeys(next);
        ticketKeys = next;
        deps.logger.info("TLS session ticket keys rotated");
      }
    } catch (err) {
      deps.logger.error({ err }, "TLS session ticket keys could not be rotated; keeping the current ones");
    }
  }, 3_600_000);
  ticketRotation.unref();
  return {
    url: `wss://${host.includes(":") ? `[${host}]` : host}:${port}`,
    port,
    get sessionCount() {
      return sessions.size;
    },
    admission: {
      get inProgress() {
        return admission.inProgress;
      },
      get queued() {
        return admission.queued;
      },
      get open() {
        return admission.open;
      },
    },
    async close() {
      // Stop accepting first: a device that reconnects during shutdown must not add a session
      // that nobody closes (https.close() would then wait for it forever).
      closing = true;
      stopRevocationWatch();
      clearInterval(ticketRotation);
      admission.close();
      const listenerClosed = new Promise<void>((resolve) => tcp.close(() => resolve()));
      // The HTTPS server never listens itself (the TCP listener hands it admitted sockets).
      https.close(() => undefined);
      const wssClosed = new Promise<void>((resolve) => wss.close(() => resolve()));
      https.closeIdleConnections();
      while (sessions.size > 0) {
        const open = [...sessions];
        await Promise.all(open.map(([s]) => s.close(GoodbyeReason.SHUTDOWN, "server shutting down")));
        await Promise.all(open.map(([, running]) => running));
      }
      await wssClosed;
      https.closeAllConnections();
      await listenerClosed;
    },
  };
}

/** A wait in [windowMs / 10, windowMs], uniformly: a refused crowd comes back spread out. */
function spreadRetry(windowMs: number): number {
  return Math.round(windowMs / 10 + Math.random() * windowMs * 0.9);
}

function commonName(socket: TLSSocket): string | undefined {
  const cn = socket.getPeerCertificate()?.subject?.CN as string | string[] | undefined;
  const value = Array.isArray(cn) ? cn[0] : cn;
  return value && value.length > 0 ? value : undefined;
}

/** Before Auth succeeds a peer only needs to send Hello and Auth: both fit in a few KiB. */
const PRE_AUTH_MESSAGE_BYTES = 64 * 1024;

/** The receive limits of a connection that has not authenticated yet; widened after Auth. */
export function preAuthLimits(limits: ProtocolLimits): ProtocolLimits {
  return {
    ...limits,
    maxFrameBytes: Math.min(limits.maxFrameBytes, PRE_AUTH_MESSAGE_BYTES),
    maxMessageBytes: Math.min(limits.maxMessageBytes, PRE_AUTH_MESSAGE_BYTES),
  };
}
