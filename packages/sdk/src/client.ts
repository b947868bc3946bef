import {
  AbortError,
  ConnectionClosedError,
  ErrorCode,
  FILE_STREAM_TYPE,
  fromWireValue,
  GoodbyeReason,
  isOutpostError,
  MAX_TIMER_MS,
  type OpenStreamOptions,
  OutpostError,
  type OutpostValue,
  type Stream,
  StreamResetCode,
  toWireMap,
  toWireValue,
  TUNNEL_STREAM_TYPE,
  withAnnouncedWindows,
} from "@outpost/protocol";
import { type AttemptResult, type Link, runAttempt } from "./connection/attempt.js";
import { type Backoff, createBackoff, isFinalError, sleep } from "./connection/reconnect.js";
import { bindThings } from "./connection/session.js";
import { type ConnectionStatus, StatusFeed } from "./connection/status.js";
import { TypedEmitter } from "./events.js";
import { DeviceFiles } from "./files/device-files.js";
import { type Logger, warnLogger } from "./logger.js";
import type {
  CloseOptions,
  ConnectOptions,
  EdgeClientOptions,
  FlushOptions,
  InvokeOptions,
  TransportFactory,
} from "./options.js";
import { OfflineQueue } from "./queue/offline-queue.js";
import type { QueueOverflowInfo } from "./queue/types.js";
import { Thing, type ThingHandle } from "./things/thing.js";
import { parseProxy } from "./transport/proxy.js";
import { checkDeviceIdentity, withDecryptedKey } from "./transport/tls.js";
import { createDeviceTunnels } from "./tunnels/create.js";
import type { DeviceTunnels } from "./tunnels/device-tunnels.js";
import { TlsSessionCache } from "./transport/tls-session.js";
import { connectWebSocket } from "./transport/ws-transport.js";

/** Events of {@link EdgeClient}. */
export interface EdgeClientEvents {
  /** Every status change. */
  status: ConnectionStatus;
  /** Data was dropped or refused because the offline queue was full. */
  "queue-overflow": QueueOverflowInfo;
  /**
   * Something the application should know but that did not stop the client: refused items or
   * binds, store failures, a service handler that threw (OUTPOST_INTERNAL, the thrown value as
   * `cause`). Always an {@link OutpostError}: switch on `error.code`.
   */
  error: OutpostError;
}

const AGENT = `outpost-sdk/0.1.0 node/${process.versions.node}`;

/**
 * A device's connection to an Outpost server: keeps one authenticated connection up (reconnecting
 * with backoff), binds the device's Things, delivers property values and events through the
 * offline queue, and answers the server's reads, writes and service calls.
 */
export class EdgeClient extends TypedEmitter<EdgeClientEvents> {
  // A true private field: util.inspect() and JSON.stringify() of the client must not show the
  // application key or the key passphrase.
  readonly #options: EdgeClientOptions;
  private readonly things = new Map<string, Thing>();
  private readonly feed = new StatusFeed();
  private readonly queue: OfflineQueue;
  private readonly backoff: Backoff | undefined;
  private readonly logger: Logger;
  private readonly factory: TransportFactory;
  private readonly lifetime = new AbortController();
  private loop: Promise<void> | undefined;
  private loopStop: AbortController | undefined;
  private link: Link | undefined;
  private everConnected = false;
  /** The last server's AuthResult.reconnect_window_ms. */
  private reconnectWindowMs = 0;
  private waiters: { resolve(): void; reject(err: Error): void }[] = [];
  private closing: Promise<void> | undefined;
  private readonly tunnels: DeviceTunnels | undefined;
  /** The device's file service, when the `files` option is given (docs/files.md). */
  readonly files: DeviceFiles | undefined;

  constructor(options: EdgeClientOptions) {
    super();
    validate(options);
    this.#options = options;
    this.logger = options.logger ?? warnLogger;
    this.files = options.files && new DeviceFiles(options.files, this.logger, (o) => this.openStream(o));
    this.backoff = options.reconnect === false ? undefined : createBackoff(options.reconnect, options.random);
    this.queue = new OfflineQueue(
      options.queue,
      (info) => this.emit("queue-overflow", info),
      (err) => this.emit("error", new OutpostError(ErrorCode.Internal, "offline queue store failed", { cause: err })),
      (failure) =>
        this.emit(
          "error",
          new OutpostError(
            ErrorCode.Internal,
            `offline queue store failed: ${failure.items} queued item(s) were not persisted and are dropped unsent`,
            { cause: failure.error },
          ),
        ),
    );
    const tls = options.tls && withDecryptedKey(options.tls);
    this.tunnels =
      options.tunnels && createDeviceTunnels(options.tunnels, tls, this.logger, (err) => this.emit("error", err));
    const tlsSessions = tls?.resumeSessions === false ? undefined : new TlsSessionCache();
    this.factory =
      options.transportFactory ??
      ((url, { signal }) =>
        connectWebSocket(url, {
          tls,
          signal,
          logger: this.logger,
          ...(options.proxy !== undefined && { proxy: options.proxy }),
          ...(options.pingIntervalMs !== undefined && { pingIntervalMs: options.pingIntervalMs }),
          ...(options.idleTimeoutMs !== undefined && { idleTimeoutMs: options.idleTimeoutMs }),
          ...(options.connectTimeoutMs !== undefined && { connectTimeoutMs: options.connectTimeoutMs }),
          ...(options.localAddress !== undefined && { localAddress: options.localAddress }),
          ...(tlsSessions && { tlsSessions }),
        }));
    void this.queue.open().catch((err: unknown) => this.emit("error", asOutpostError(err)));
  }

  /** The current connection status. */
  get status(): ConnectionStatus {
    return this.feed.status;
  }

  /** Items waiting in the offline queue (including those sent but not yet acknowledged). */
  get queueSize(): number {
    return this.queue.size;
  }

  /** The current status, then every change; ends after "closed". */
  statusChanges(): AsyncIterable<ConnectionStatus> {
    return this.feed.subscribe();
  }

  /** Declares (or returns) a Thing. Things declared while connected are bound on the next connection. */
  thing(name: string): ThingHandle {
    let t = this.things.get(name);
    if (!t) {
      t = new Thing(name, {
        queueProperty: (p, quality) =>
          this.queue.enqueue({
            kind: "property",
            thing: p.thing,
            name: p.name,
            value: toWireValue(p.value!),
            timestampMs: p.timestampMs,
            quality,
          }),
        queueEvent: (thing, event, data, timestampMs) =>
          this.queue.enqueue({ kind: "event", thing, name: event, data: toWireMap(data), timestampMs }),
      });
      this.things.set(name, t);
      // Declared while connected: bind it now rather than at the next reconnect.
      if (this.link) this.bindLate(this.link, name);
    }
    return t;
  }

  /**
   * Starts the connection (and keeps it up). Resolves once authenticated and bound. Rejects with the
   * typed error when an attempt fails with an error reconnecting cannot fix (401/403, TLS, config),
   * when reconnecting is off or exhausted, or with OUTPOST_ABORTED through `signal`.
   */
  connect(options: ConnectOptions = {}): Promise<void> {
    if (this.closing) return Promise.reject(new ConnectionClosedError("client is closed"));
    if (this.status.type === "connected") return Promise.resolve();
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(new AbortError("connect aborted", { cause: signal.reason }));
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        if (this.status.type !== "connected") this.loopStop?.abort(new AbortError("connect aborted"));
        reject(new AbortError("connect aborted", { cause: signal?.reason }));
      };
      const waiter = {
        resolve: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        },
        reject: (err: Error) => {
          signal?.removeEventListener("abort", onAbort);
          reject(err);
        },
      };
      this.waiters.push(waiter);
      signal?.addEventListener("abort", onAbort, { once: true });
      this.loop ??= this.run()
        .catch((err: unknown) => {
          // Only the store can fail here (load); report it instead of leaving connect() hanging.
          const error = asError(err);
          this.setStatus(disconnected(error));
          this.settleWaiters(error);
        })
        .finally(() => {
          this.loop = undefined;
        });
    });
  }

  /** Invokes a service on the server side and resolves with its result. Needs a live connection (else OUTPOST_UNAVAILABLE). */
  async invoke(
    thing: string,
    service: string,
    params: Record<string, OutpostValue> = {},
    options: InvokeOptions = {},
  ): Promise<OutpostValue> {
    const link = this.link;
    if (!link) throw new OutpostError(ErrorCode.Unavailable, "not connected", { status: 503 });
    const timeoutMs = options.timeoutMs ?? this.#options.requestTimeoutMs ?? 30_000;
    const reply = await link.channel.request(
      { serviceInvoke: { thing, service, params: toWireMap(params), timeoutMs } },
      { timeoutMs, ...(options.signal && { signal: options.signal }) },
    );
    return fromWireValue(reply.response?.result);
  }

  /**
   * Opens a stream to the server on the current connection (see docs/sdk.md, Streams). Throws
   * OUTPOST_UNAVAILABLE when not connected, OUTPOST_NOT_IMPLEMENTED when the server did not
   * announce "streams", OUTPOST_TOO_MANY_STREAMS over the server's maxStreams. A stream does not
   * survive a reconnect: it fails with OUTPOST_CONNECTION_CLOSED and the caller opens a new one.
   */
  openStream(options: OpenStreamOptions): Stream {
    const link = this.link;
    if (!link) throw new OutpostError(ErrorCode.Unavailable, "not connected", { status: 503 });
    return link.channel.openStream(options);
  }

  /** Resolves when every queued item has been acknowledged by the server. */
  async flush(options: FlushOptions = {}): Promise<void> {
    return this.queue.drained(options.signal);
  }

  /** Flushes (bounded by `timeoutMs`), says Goodbye, closes the connection and the queue store. Idempotent. */
  close(options: CloseOptions = {}): Promise<void> {
    this.closing ??= this.shutdown(options);
    return this.closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private async shutdown(options: CloseOptions): Promise<void> {
    if ((options.flush ?? true) && this.loop && this.queue.size > 0) {
      try {
        await this.flush({ signal: AbortSignal.timeout(options.timeoutMs ?? 10_000) });
      } catch {
        this.logger.warn("close: queue not fully acknowledged", { queued: this.queue.size });
      }
    }
    const link = this.link;
    if (link) {
      try {
        link.channel.send({ goodbye: { reason: GoodbyeReason.SHUTDOWN, message: "device shutting down" } });
      } catch {
        // already closed
      }
    }
    this.tunnels?.closeAll();
    this.lifetime.abort(new ConnectionClosedError("client closed"));
    this.loopStop?.abort();
    await link?.channel.close();
    await this.loop;
    await this.queue.close();
    this.settleWaiters(new ConnectionClosedError("client closed"));
    this.setStatus({ type: "closed" });
  }

  /** One handler for the server's streams, by type: tunnels and files here, the rest to the application's onStream. */
  private dispatchStream(stream: Stream): void {
    if (stream.type === TUNNEL_STREAM_TYPE && this.tunnels) this.tunnels.accept(stream);
    else if (stream.type === FILE_STREAM_TYPE && this.files) this.files.serve(stream);
    else if (this.#options.onStream) this.#options.onStream(stream);
    else stream.reset(StreamResetCode.Refused, `stream type ${JSON.stringify(stream.type)} is not served`);
  }

  private async run(): Promise<void> {
    const stop = new AbortController();
    this.loopStop = stop;
    const signal = AbortSignal.any([stop.signal, this.lifetime.signal]);
    await this.queue.open();
    const urls = [this.#options.url, ...(this.#options.fallbackUrls ?? [])];
    let failures = 0;
    let index = 0;
    let lost = false;
    while (!signal.aborted) {
      const url = urls[index % urls.length]!;
      this.setStatus({ type: "connecting", attempt: failures + 1, url });
      const result = await this.attempt(url, signal);
      this.link = undefined;
      if (signal.aborted) break;
      if (result.connected) {
        failures = 0;
        lost = result.lost === true;
      } else {
        failures += 1;
        index += 1;
      }
      const delay = this.nextDelay(result, failures, lost);
      if (delay === undefined) {
        this.setStatus(disconnected(result.error));
        this.settleWaiters(result.error ?? new ConnectionClosedError("connection closed"));
        return;
      }
      this.setStatus(disconnected(result.error, delay));
      try {
        await sleep(delay, signal);
      } catch {
        break;
      }
    }
    if (!this.lifetime.signal.aborted) {
      const reason = stop.signal.reason instanceof Error ? stop.signal.reason : undefined;
      this.setStatus(disconnected(reason));
      // Nothing connects any more: other connect() callers must not wait forever.
      this.settleWaiters(reason ?? new AbortError("connect aborted"));
    }
  }

  private attempt(url: string, signal: AbortSignal): Promise<AttemptResult> {
    const o = this.#options;
    return runAttempt({
      url,
      factory: this.factory,
      channel: {
        limits: withAnnouncedWindows(o.limits),
        ...(o.requestTimeoutMs !== undefined && { requestTimeoutMs: o.requestTimeoutMs }),
      },
      appKey: o.appKey,
      agent: AGENT,
      ...((o.onStream || this.tunnels || this.files) && { onStream: (stream: Stream) => this.dispatchStream(stream) }),
      things: this.things,
      queue: this.queue,
      logger: this.logger,
      connectTimeoutMs: o.connectTimeoutMs ?? 15_000,
      maxBatch: o.maxBatch ?? 500,
      flushIntervalMs: o.flushIntervalMs ?? 50,
      signal,
      onConnected: (link) => {
        this.link = link;
        this.everConnected = true;
        this.reconnectWindowMs = link.session.reconnectWindowMs;
        this.logger.info("connected", {
          url: link.url,
          deviceId: link.session.deviceId,
          sessionId: link.session.sessionId,
        });
        if (link.session.replacedSessionId !== undefined) {
          this.logger.warn("this connection took over a live session of the same device", {
            replacedSessionId: link.session.replacedSessionId,
          });
        }
        this.setStatus({
          type: "connected",
          url: link.url,
          sessionId: link.session.sessionId,
          deviceId: link.session.deviceId,
          ...(link.session.replacedSessionId !== undefined && { replacedSessionId: link.session.replacedSessionId }),
        });
        const waiters = this.waiters;
        this.waiters = [];
        for (const w of waiters) w.resolve();
      },
      onRefused: (err) => this.emit("error", err),
      onError: (err) => this.emit("error", err),
    });
  }

  private bindLate(link: Link, name: string): void {
    bindThings(link.channel, [name]).then(
      ({ refused }) => {
        for (const r of refused) this.emit("error", r.error);
      },
      (err: unknown) => {
        // A closed connection binds the Thing again on reconnect; anything else is worth reporting.
        if (!isOutpostError(err, ErrorCode.ConnectionClosed)) this.emit("error", asOutpostError(err));
      },
    );
  }

  /**
   * Milliseconds before the next attempt, or undefined to stop. Once the client has been connected,
   * a TLS failure, an HTTP refusal of the upgrade or a proxy's refusal (407, 403) is retried too: in
   * the field it is more often a server-side certificate change, a clock being corrected or a proxy
   * being redeployed than a configuration error, and a device that gives up is lost.
   */
  private nextDelay(result: AttemptResult, failures: number, lost: boolean): number | undefined {
    if (!this.backoff || result.final) return undefined;
    if (isFinalError(result.error) && !(this.everConnected && isTransient(result.error))) return undefined;
    if (failures >= this.backoff.maxAttempts) return undefined;
    const delay = Math.max(this.backoff.delay(Math.max(1, failures)), Math.min(result.retryAfterMs, MAX_TIMER_MS));
    // A connection lost without a Goodbye: the first retry is quick (a short network failure); once
    // it failed the server is likely down for its whole fleet, which returns over its window, each
    // device at its own random point; after that point the plain backoff applies again.
    if (!lost || failures !== 1 || this.reconnectWindowMs <= 0) return delay;
    const random = this.#options.random ?? Math.random;
    return Math.max(delay, Math.floor(random() * Math.min(this.reconnectWindowMs, MAX_TIMER_MS)));
  }

  private setStatus(status: ConnectionStatus): void {
    this.feed.set(status);
    this.emit("status", status);
  }

  private settleWaiters(err: Error): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.reject(err);
  }
}

function disconnected(error: Error | undefined, retryInMs?: number): ConnectionStatus {
  return {
    type: "disconnected",
    ...(error !== undefined && { error }),
    ...(retryInMs !== undefined && { retryInMs }),
  };
}

function validate(o: EdgeClientOptions): void {
  const bad = (what: string): never => {
    throw new OutpostError(ErrorCode.InvalidConfig, what);
  };
  if (!o || typeof o !== "object") bad("options are required");
  if (typeof o.url !== "string" || o.url.length === 0) bad("url must be a non-empty string");
  if (typeof o.appKey !== "string" || o.appKey.length === 0) bad("appKey must be a non-empty string");
  if (!o.transportFactory && !o.tls?.ca) bad("tls.ca is required");
  if (o.tls) {
    const identity = checkDeviceIdentity(o.tls);
    if (identity) throw identity;
  }
  if (o.proxy !== undefined && o.proxy !== false) parseProxy(o.proxy);
  for (const [k, v] of Object.entries({ maxBatch: o.maxBatch, flushIntervalMs: o.flushIntervalMs })) {
    if (v !== undefined && !(Number.isFinite(v) && v >= 0)) bad(`${k} must be a number >= 0`);
  }
  // Timers take at most MAX_TIMER_MS; beyond it Node fires them at once (AbortSignal.timeout throws).
  const delays = {
    flushIntervalMs: o.flushIntervalMs,
    pingIntervalMs: o.pingIntervalMs,
    idleTimeoutMs: o.idleTimeoutMs,
  };
  for (const [k, v] of Object.entries({ ...delays, connectTimeoutMs: o.connectTimeoutMs })) {
    if (v !== undefined && !(v <= MAX_TIMER_MS)) bad(`${k} must be at most ${MAX_TIMER_MS}`);
  }
  if (o.pingIntervalMs !== undefined && !(o.pingIntervalMs >= 0)) bad("pingIntervalMs must be a number >= 0");
  if (o.idleTimeoutMs !== undefined && !(o.idleTimeoutMs >= 0)) bad("idleTimeoutMs must be a number >= 0");
  if (o.connectTimeoutMs !== undefined && !(o.connectTimeoutMs >= 1)) bad("connectTimeoutMs must be >= 1");
  if (o.requestTimeoutMs !== undefined && !(o.requestTimeoutMs >= 0)) bad("requestTimeoutMs must be a number >= 0");
}

/** A final error that a client which was connected before retries anyway (see nextDelay). */
function isTransient(err: unknown): boolean {
  return (
    isOutpostError(err, ErrorCode.Tls) ||
    isOutpostError(err, ErrorCode.ProxyAuth) ||
    (isOutpostError(err, ErrorCode.InvalidConfig) && err.status !== undefined)
  );
}

function asError(err: unknown): Error {
  return isOutpostError(err) || err instanceof Error ? err : new Error(String(err));
}

function asOutpostError(err: unknown): OutpostError {
  return isOutpostError(err)
    ? err
    : new OutpostError(ErrorCode.Internal, err instanceof Error ? err.message : String(err), { cause: err });
}
