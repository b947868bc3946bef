import type { Envelope, EnvelopeInit, ProtocolLimits, Response } from "@outpost/protocol";
import type { pino } from "pino";
import type { AuditSink } from "../audit/types.js";
import type { FailureLimiter } from "../auth/rate-limit.js";
import type { AsyncRegistry } from "../registry/async-types.js";
import type { ChangeHub } from "../things/changes.js";
import type { DeviceLimits } from "./device-limits.js";
import type { DeviceLinks } from "../things/device-links.js";
import type { ServerServices } from "../things/server-services.js";

/** What every edge session shares: storage, audit, limits and the server-wide tables. */
export interface EdgeDeps {
  /**
   * The registry: for the embedded SQLite one its asynchronous view (`asyncRegistryOf`), whose
   * SQLite registry the TLS handshake gate and the revocation watch also read synchronously.
   */
  registry: AsyncRegistry;
  audit: AuditSink;
  logger: pino.Logger;
  links: DeviceLinks;
  hub: ChangeHub;
  services: ServerServices;
  /**
   * Authentication failures per source address, of connections that presented no verified
   * certificate (and refused TLS handshakes); such connections are blocked per source.
   */
  sourceLimiter: FailureLimiter;
  /**
   * Authentication failures per application key id, counted only when the certificate presented
   * is that key's own device: a device that presents another device's key id cannot lock it out.
   */
  keyLimiter: FailureLimiter;
  /** Authentication failures per presenting certificate identity (device id in the certificate). */
  identityLimiter: FailureLimiter;
  /** Bounds a device cannot lift: names, properties per Thing, events per second. */
  deviceLimits: DeviceLimits;
  /** Our receive limits, announced in HelloAck. */
  limits: ProtocolLimits;
  serverId: string;
  authDeadlineMs: number;
  requestTimeoutMs: number;
  clientCert: "required" | "optional";
  /** Called after a device bound Things (with the ones it bound now), once the Bind was answered. */
  onBind?: (deviceId: string, things: readonly string[]) => void;
}

/** The explicit context each handler of an authenticated session receives. */
export interface HandlerContext {
  readonly deviceId: string;
  readonly sessionId: string;
  readonly source: string;
  readonly deps: EdgeDeps;
  /** Things bound on this connection. */
  readonly bound: Set<string>;
  /** Answers `request` unless it expects no answer (requestId 0). */
  reply(request: Envelope, response: Response): void;
  /** Answers `request` with the status of `err` unless it expects no answer. */
  replyError(request: Envelope, err: unknown): void;
  send(envelope: EnvelopeInit): void;
  /** Logs a failure while serving this connection (bounded per connection, like the session's own). */
  reportFault(err: unknown, what: string): void;
}
