import { randomUUID } from "node:crypto";
import {
  CAPABILITY_DELIVERY_EPOCH,
  CAPABILITY_EVENT_BATCH,
  CAPABILITY_MULTIPART,
  CAPABILITY_STREAMS,
  type Channel,
  type Envelope,
  type EnvelopeInit,
  ErrorCode,
  GoodbyeReason,
  isOutpostError,
  negotiateLimits,
  negotiateVersion,
  ProtocolError,
  type OpenStreamOptions,
  type ProtocolLimits,
  type Response,
  Status,
  type Stream,
} from "@outpost/protocol";
import { lastRun } from "../registry/delivery.js";
import type { AsyncRegistry } from "../registry/async-types.js";
import type { CertificateStatus } from "../registry/types.js";
import type { DeviceLink, DeviceRequestOptions } from "../things/device-links.js";
import { authenticate } from "./authenticate.js";
import type { EdgeDeps, HandlerContext } from "./context.js";
import { dispatch } from "./dispatcher.js";
import { DeadlineQueues } from "./deadlines.js";
import { ConnectionFaultLog } from "./fault-log.js";
import { handleKeepAlive } from "./handlers/keep-alive.js";

/** Capabilities announced in every HelloAck: what this server accepts, whatever the device announced. */
const SERVER_CAPABILITIES: readonly string[] = [
  CAPABILITY_MULTIPART,
  CAPABILITY_EVENT_BATCH,
  CAPABILITY_DELIVERY_EPOCH,
];

/** Sessions not yet authenticated, by auth deadline: one timer for all of them. */
const authDeadlines = new DeadlineQueues<EdgeSession>((session) => session.authDeadlinePassed());

/** Who opened a stream: the authenticated device and its session. */
export interface StreamDevice {
  deviceId: string;
  sessionId: string;
}

/** Receives each stream a device opens (files and tunnels register here). */
export type StreamHandler = (stream: Stream, device: StreamDevice) => void;

/** Where a connection is in the state machine of docs/architecture.md. */
export type SessionState = "hello" | "auth" | "ready" | "closed";

/** Inputs of one {@link EdgeSession}. */
export interface EdgeSessionOptions {
  channel: Channel;
  /** Subject CN of the verified client certificate, or undefined when none was presented. */
  certDeviceId: string | undefined;
  /** Remote address. */
  source: string;
  /** Streams the device opens, once authenticated; without it they are refused. */
  onStream?: StreamHandler;
  /** Whether TLS resumed an earlier session; recorded with the login. */
  tlsResumed?: boolean;
  /** Serial of the verified client certificate, checked again when the device's certificates are revoked. */
  certSerial?: string;
  /** The transport's WebSocket ping interval, announced in HelloAck so the device need not ping. */
  pingIntervalMs?: number;
  /** Called once, when Auth has succeeded (the connection stops counting as unauthenticated). */
  onAuthenticated?: () => void;
  /** The reconnect window to tell the device at Auth (`AuthResult.reconnect_window_ms`); default none. */
  reconnectWindowMs?: () => number;
  deps: EdgeDeps;
}

/**
 * One device connection: Hello -> HelloAck, Auth -> AuthResult, then the dispatcher. Before
 * authentication only Hello, Auth, KeepAlive and Goodbye are accepted. Once authenticated the
 * session is the device's {@link DeviceLink}; a newer connection of the same device replaces it.
 */
export class EdgeSession implements DeviceLink {
  readonly sessionId = randomUUID();
  readonly source: string;
  deviceId = "";
  connectedAt = 0;
  /** The application key the session authenticated with ("" before Auth). */
  keyId = "";
  /** When that key expires (ms since epoch), or null. */
  keyExpiresAt: number | null = null;
  private readonly certSerial: string | undefined;
  private stateValue: SessionState = "hello";
  private readonly channel: Channel;
  private readonly deps: EdgeDeps;
  private readonly certDeviceId: string | undefined;
  private readonly onStream: StreamHandler | undefined;
  private readonly onAuthenticated: (() => void) | undefined;
  private readonly reconnectWindowMs: (() => number) | undefined;
  private readonly tlsResumed: boolean;
  private readonly pingIntervalMs: number;
  private streamsAgreed = false;
  private readonly bound = new Set<string>();
  private ctx: HandlerContext | undefined;
  private closing: Promise<void> | undefined;
  private readonly faults: ConnectionFaultLog;
  /** The device's queue epoch from Hello when it announced "delivery-epoch"; undefined otherwise. */
  private queueEpoch: number | undefined;

  constructor(options: EdgeSessionOptions) {
    this.channel = options.channel;
    this.deps = options.deps;
    this.onStream = options.onStream;
    this.onAuthenticated = options.onAuthenticated;
    this.reconnectWindowMs = options.reconnectWindowMs;
    this.tlsResumed = options.tlsResumed === true;
    this.pingIntervalMs = options.pingIntervalMs ?? 0;
    this.certDeviceId = options.certDeviceId;
    this.certSerial = options.certSerial;
    this.source = options.source;
    this.faults = new ConnectionFaultLog(this.deps.logger, () => ({
      session: this.sessionId,
      deviceId: this.deviceId || undefined,
      source: this.source,
    }));
  }

  get state(): SessionState {
    return this.stateValue;
  }

  isBound(thing: string): boolean {
    return this.stateValue === "ready" && this.bound.has(thing);
  }

  request(init: EnvelopeInit, options: DeviceRequestOptions = {}): Promise<Envelope> {
    return this.channel.request(init, options);
  }

  /** Opens a stream to the device (tunnels); throws OUTPOST_NOT_IMPLEMENTED when the device did not announce streams. */
  openStream(options: OpenStreamOptions): Stream {
    return this.channel.openStream(options);
  }

  /** Handles the connection's messages until it ends. Never rejects. */
  run(): Promise<void> {
    authDeadlines.of(this.deps.authDeadlineMs).add(this);
    return new Promise((resolve) => {
      // Push-style: an idle session holds no suspended reader. A frame whose handler waits for the
      // registry (Auth, Bind) is finished before the next one is handled, so that what follows it
      // sees its outcome; the channel stops reading meanwhile.
      this.channel.consumeMessages({
        take: (envelope) => (this.stateValue === "closed" ? undefined : this.handle(envelope)),
        end: () => void this.ended().then(resolve),
      });
    });
  }

  /** The auth deadline passed (edge/deadlines.ts). */
  authDeadlinePassed(): void {
    if (this.stateValue !== "ready") {
      void this.close(
        GoodbyeReason.IDLE,
        `not authenticated within ${this.deps.authDeadlineMs} ms`,
        0,
        ErrorCode.Timeout,
      );
    }
  }

  private async ended(): Promise<void> {
    authDeadlines.of(this.deps.authDeadlineMs).delete(this);
    const err = await this.channel.closed();
    try {
      this.finish(err);
    } catch (finishErr) {
      this.faults.report(finishErr, "closing the session");
    }
  }

  /**
   * Says goodbye (best effort) and closes the connection. `code` is the stable error code behind
   * the close (docs/protocol.md §9), empty for a close that is not an error. Idempotent.
   */
  close(reason: GoodbyeReason, message: string, reconnectAfterMs = 0, code = ""): Promise<void> {
    if (this.closing) return this.closing;
    this.stateValue = "closed";
    try {
      this.channel.send({ goodbye: { reason, message, reconnectAfterMs, code } });
    } catch {
      // already closed
    }
    this.closing = this.channel.close();
    return this.closing;
  }

  /**
   * Closes a ready session whose application key was revoked, removed or has expired, whose
   * device was disabled, or whose certificate was revoked since it authenticated. Called by the
   * edge's revocation watch (edge/revocation-watch.ts) for the sessions a change names. Returns
   * true when it closed this one.
   */
  async revalidate(now = Date.now()): Promise<boolean> {
    if (this.stateValue !== "ready") return false;
    const reason =
      (await revocationReason(this.deps.registry, this.deviceId, this.keyId, now)) ??
      (this.certSerial !== undefined && this.certDeviceId === this.deviceId
        ? certificateReason(await this.deps.registry.certificateStatus(this.deviceId, this.certSerial))
        : undefined);
    if (!reason || this.stateValue !== "ready") return false;
    this.deps.audit.append({
      type: "denied",
      actor: `device:${this.deviceId}`,
      outcome: "failure",
      source: this.source,
      code: ErrorCode.Unauthorized,
      details: { action: "session", reason, keyId: this.keyId, session: this.sessionId },
    });
    this.deps.logger.info({ deviceId: this.deviceId, keyId: this.keyId, reason }, "closing a revoked session");
    void this.close(GoodbyeReason.AUTH_REVOKED, reason, 0, ErrorCode.Unauthorized);
    return true;
  }

  private handle(envelope: Envelope): Promise<void> | undefined {
    try {
      if (envelope.body === "goodbye") {
        this.stateValue = "closed";
        void this.channel.close();
        return undefined;
      }
      if (envelope.body === "keepAlive") {
        handleKeepAlive(this.replier(), envelope);
        return undefined;
      }
      switch (this.stateValue) {
        case "hello":
          this.onHello(envelope);
          return undefined;
        case "auth":
          return this.onAuth(envelope).catch((err: unknown) => this.handlerFailed(envelope, err));
        case "ready": {
          const pending = dispatch(this.ctx!, envelope);
          return pending?.catch((err: unknown) => this.handlerFailed(envelope, err));
        }
        case "closed":
          return undefined;
      }
    } catch (err) {
      this.handlerFailed(envelope, err);
    }
    return undefined;
  }

  /** Whether the connection ended meanwhile (read again after each wait for the registry). */
  private isClosed(): boolean {
    return this.stateValue === "closed";
  }

  private handlerFailed(envelope: Envelope, err: unknown): void {
    if (err instanceof ProtocolError) {
      this.fail(err);
      return;
    }
    this.faults.report(err, `handling ${envelope.body ?? "an empty frame"}`);
    try {
      this.replier().replyError(envelope, err);
    } catch {
      // connection already gone
    }
  }

  private onHello(envelope: Envelope): void {
    if (envelope.body !== "hello") throw unexpected(envelope, "Hello");
    const hello = envelope.hello!;
    let version: number;
    try {
      version = negotiateVersion(hello.minVersion ?? 0, hello.maxVersion ?? 0);
      // Never more than our own limits, whatever the device announces: a device claiming to accept
      // 2^53 concurrent requests must not make operators queue unbounded work on it.
      this.channel.setPeerLimits(negotiateLimits(this.deps.limits, hello.limits as Partial<ProtocolLimits> | null));
    } catch (err) {
      const message = err instanceof Error ? err.message : "bad hello";
      void this.close(GoodbyeReason.PROTOCOL_ERROR, message, 0, isOutpostError(err) ? err.code : ErrorCode.BadRequest);
      return;
    }
    this.streamsAgreed = (hello.capabilities ?? []).includes(CAPABILITY_STREAMS);
    const epoch = Number(hello.queueEpoch ?? 0);
    if ((hello.capabilities ?? []).includes(CAPABILITY_DELIVERY_EPOCH) && epoch > 0 && Number.isSafeInteger(epoch)) {
      this.queueEpoch = epoch;
    }
    this.channel.send({
      requestId: envelope.requestId,
      helloAck: {
        version,
        capabilities: this.streamsAgreed ? [...SERVER_CAPABILITIES, CAPABILITY_STREAMS] : [...SERVER_CAPABILITIES],
        limits: { ...this.deps.limits },
        serverId: this.deps.serverId,
        ...(this.pingIntervalMs > 0 && { pingIntervalMs: this.pingIntervalMs }),
      },
    });
    this.stateValue = "auth";
  }

  private async onAuth(envelope: Envelope): Promise<void> {
    if (envelope.body !== "auth") throw unexpected(envelope, "Auth");
    const outcome = await authenticate(this.deps, {
      appKey: envelope.auth!.appKey ?? "",
      certDeviceId: this.certDeviceId,
      source: this.source,
      sessionId: this.sessionId,
      tlsResumed: this.tlsResumed,
    });
    if (this.isClosed()) return;
    if (!outcome.ok) {
      this.channel.send({
        requestId: envelope.requestId,
        authResult: {
          status: outcome.status,
          message: outcome.message,
          code: outcome.code,
          deviceId: "",
          sessionId: this.sessionId,
        },
      });
      // 401/403 cannot be fixed by retrying (AUTH_REVOKED: stop until re-provisioned); 429 and 503
      // can, after the hint (docs/protocol.md §9).
      const refused = outcome.status === Status.Unauthorized || outcome.status === Status.Forbidden;
      const reason = refused ? GoodbyeReason.AUTH_REVOKED : GoodbyeReason.GOODBYE_UNSPECIFIED;
      void this.close(reason, outcome.message, outcome.retryAfterMs ?? 0, outcome.code);
      return;
    }
    const delivered = await this.deliveredRun(outcome.deviceId);
    if (this.isClosed()) return;
    this.channel.setReceiveLimits(this.deps.limits);
    this.deviceId = outcome.deviceId;
    if (this.streamsAgreed) {
      const onStream = this.onStream;
      const device = { deviceId: outcome.deviceId, sessionId: this.sessionId };
      this.channel.enableStreams({ side: "server", ...(onStream && { onStream: (s) => onStream(s, device) }) });
    }
    this.keyId = outcome.keyId;
    this.keyExpiresAt = outcome.keyExpiresAt;
    this.connectedAt = Date.now();
    this.stateValue = "ready";
    authDeadlines.of(this.deps.authDeadlineMs).delete(this);
    this.onAuthenticated?.();
    this.ctx = {
      ...this.replier(),
      deviceId: this.deviceId,
      sessionId: this.sessionId,
      source: this.source,
      deps: this.deps,
      bound: this.bound,
      reportFault: (err, what) => this.faults.report(err, what),
    };
    const previous = this.deps.links.add(this);
    this.channel.send({
      requestId: envelope.requestId,
      authResult: {
        status: Status.OK,
        message: "",
        deviceId: this.deviceId,
        sessionId: this.sessionId,
        ...(previous && { replacedSessionId: previous.sessionId }),
        reconnectWindowMs: this.reconnectWindowMs?.() ?? 0,
        ...delivered,
      },
    });
    this.deps.logger.info(
      { deviceId: this.deviceId, keyId: outcome.keyId, source: this.source, session: this.sessionId },
      "device connected",
    );
    if (previous) {
      void previous.close(
        GoodbyeReason.REPLACED,
        "replaced by a newer connection of the same device",
        0,
        ErrorCode.Conflict,
      );
    }
  }

  /** The highest run of the device's queue epoch the server applied, told at connect. */
  private async deliveredRun(
    deviceId: string,
  ): Promise<{ delivered: { firstSeq: number; lastSeq: number } } | Record<string, never>> {
    if (this.queueEpoch === undefined) return {};
    const run = lastRun(await this.deps.registry.getDelivery(deviceId, this.queueEpoch));
    return { delivered: { firstSeq: run?.[0] ?? 0, lastSeq: run?.[1] ?? 0 } };
  }

  private replier(): Pick<HandlerContext, "reply" | "replyError" | "send"> {
    return {
      reply: (request: Envelope, response: Response) => {
        if (request.requestId !== 0) this.channel.respond(request.requestId, response);
      },
      replyError: (request: Envelope, err: unknown) => {
        if (request.requestId !== 0) this.channel.respondError(request.requestId, err);
      },
      send: (init: EnvelopeInit) => this.channel.send(init),
    };
  }

  private fail(err: ProtocolError): void {
    this.deps.logger.info(
      { code: err.code, reason: err.message, session: this.sessionId, source: this.source },
      "closing connection after a protocol error",
    );
    if (this.closing) return;
    this.stateValue = "closed";
    try {
      this.channel.send({ goodbye: { reason: GoodbyeReason.PROTOCOL_ERROR, message: err.message, code: err.code } });
    } catch {
      // already closed
    }
    this.closing = this.channel.close(err);
  }

  private finish(err: Error | undefined): void {
    const wasReady = this.deviceId !== "";
    this.stateValue = "closed";
    if (!wasReady) return;
    this.deps.links.remove(this);
    this.deps.audit.append({
      type: "logout",
      actor: `device:${this.deviceId}`,
      outcome: err && isOutpostError(err) && err.code !== ErrorCode.ConnectionClosed ? "failure" : "success",
      source: this.source,
      ...(err && isOutpostError(err) ? { code: err.code } : {}),
      details: { session: this.sessionId },
    });
    this.deps.logger.info({ deviceId: this.deviceId, session: this.sessionId }, "device disconnected");
  }
}

async function revocationReason(
  registry: Pick<AsyncRegistry, "getKey" | "getDevice">,
  deviceId: string,
  keyId: string,
  now: number,
): Promise<string | undefined> {
  const key = await registry.getKey(keyId);
  if (!key || key.deviceId !== deviceId) return "application key removed";
  if (key.revokedAt !== null) return "application key revoked";
  if (key.expiresAt !== null && key.expiresAt <= now) return "application key expired";
  const device = await registry.getDevice(deviceId);
  if (!device || device.disabled) return "device disabled";
  return undefined;
}

function certificateReason(status: CertificateStatus): string | undefined {
  return status === "ok" ? undefined : status === "revoked" ? "certificate revoked" : "device disabled";
}

function unexpected(envelope: Envelope, wanted: string): ProtocolError {
  return new ProtocolError(ErrorCode.UnexpectedFrame, `expected ${wanted}, got ${envelope.body ?? "an empty frame"}`);
}
