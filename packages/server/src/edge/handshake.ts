import { X509Certificate } from "node:crypto";
import type { Server } from "node:https";
import type { Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import { ErrorCode } from "@outpost/protocol";
import type { AuditEvent } from "../audit/types.js";
import { commonNameOf } from "../pki/identity.js";
import { deviceCertificateViolation } from "../pki/policy.js";
import type { CertificateStatus } from "../registry/types.js";
import type { EdgeDeps } from "./context.js";
import { TlsAlert, tls13AlertRecord } from "./tls-alert.js";

/** Why a TLS handshake was refused, as recorded in the audit log (`details.reason`). */
export type HandshakeRefusalReason =
  | "no-certificate"
  | "unknown-ca"
  | "expired"
  | "not-yet-valid"
  | "untrusted"
  | "policy"
  | "revoked"
  | "device-disabled"
  | "unknown-device"
  | "registry-unavailable"
  | "protocol";

interface Refusal {
  reason: HandshakeRefusalReason;
  detail: string;
  alert: number;
  certDeviceId?: string;
  serial?: string;
}

/** Decisions of the handshake gate that the HTTP and WebSocket layers consult. */
export interface HandshakeGate {
  /** Whether this TLS socket was refused (it gets no HTTP answer and no WebSocket). */
  isRefused(socket: object): boolean;
  /** While the registry has not yet answered for this TLS socket, the Promise of that answer. */
  decided(socket: object): Promise<void> | undefined;
  /**
   * The certificate identity the gate accepted on this TLS socket (its subject's CN and its
   * serial), read once at the handshake; undefined when it judged none (no valid certificate).
   */
  identityOf(socket: object): { certDeviceId: string; serial: string } | undefined;
  /**
   * The peer's address, also once the peer has gone (a closed socket no longer knows it): taken
   * from the TCP connection at accept. "unknown" only when it was never known.
   */
  sourceOf(socket: TLSSocket): string;
  /** Records the peer address of a TCP connection at accept, for {@link sourceOf}. */
  noteAccepted(raw: Socket): void;
}

/** Inputs of {@link installHandshakeGate}. */
export interface HandshakeGateOptions {
  deps: EdgeDeps;
  /**
   * The status of a device certificate: the embedded registry's cached answer at once, so the
   * gate decides before the HTTP layer takes the socket; another registry answers with a Promise,
   * and the upgrade then waits for it ({@link HandshakeGate.decided}).
   */
  certificateStatus: (deviceId: string, serial: string) => CertificateStatus | Promise<CertificateStatus>;
  clientCaPem: string;
  clientCert: "required" | "optional";
}

/**
 * Judges every client certificate before any application data is read: refused are certificates
 * that do not chain to the device CA or are out of their validity (OpenSSL's verdict), that break
 * the certificate policy (pki/policy.ts), or whose device's certificates were revoked or whose
 * device is disabled or unknown (registry, answered from its cache). A refusal is audited with its
 * reason and source address and answered with a TLS alert naming it (TLS 1.3; a TLS 1.2 peer gets
 * close_notify). Nothing here throws into the event loop: a failing sink or registry is logged,
 * and a registry that cannot be read refuses the handshake.
 */
export function installHandshakeGate(https: Server, options: HandshakeGateOptions): HandshakeGate {
  const { deps } = options;
  const required = options.clientCert === "required";
  const ca = new X509Certificate(options.clientCaPem);
  const refused = new WeakSet<object>();
  const pending = new WeakMap<object, Promise<void>>();
  const secrets = new WeakMap<object, Buffer>();
  // After a TLS 1.3 reset the TLS socket no longer knows its peer; the TCP socket under it does.
  const peers = new WeakMap<object, string>();
  const identities = new WeakMap<object, { certDeviceId: string; serial: string }>();

  const noteAccepted = (raw: Socket): void => {
    if (raw.remoteAddress) peers.set(raw, raw.remoteAddress);
  };
  const sourceOf = (socket: TLSSocket): string => {
    const parent = (socket as TLSSocket & { _parent?: object })._parent;
    return socket.remoteAddress ?? (parent && peers.get(parent)) ?? "unknown";
  };

  https.on("keylog", (line: Buffer, socket: TLSSocket) => {
    // Node destroys a socket whose certificate does not verify before any listener sees it, with
    // neither a reason nor an alert. The gate makes that decision itself (below), so it can say
    // why; OpenSSL still refuses a handshake without any certificate on its own.
    if (required) (socket as TLSSocket & { _rejectUnauthorized?: boolean })._rejectUnauthorized = false;
    if (line.subarray(0, 24).toString("latin1") === "SERVER_TRAFFIC_SECRET_0 ") {
      const hex = line.toString("latin1").trim().split(" ")[2];
      if (hex) secrets.set(socket, Buffer.from(hex, "hex"));
    }
  });

  // Prepended, so it runs before the HTTP layer takes the socket.
  https.prependListener("secureConnection", (socket: TLSSocket) => {
    const secret = secrets.get(socket);
    secrets.delete(socket);
    let verdict: Refusal | undefined | Promise<Refusal | undefined>;
    try {
      verdict = judge(socket);
    } catch (err) {
      verdict = unavailable(err);
    }
    if (verdict instanceof Promise) {
      const wait = verdict
        .catch((err: unknown) => unavailable(err))
        .then((refusal) => conclude(socket, refusal, secret))
        .finally(() => pending.delete(socket));
      pending.set(socket, wait);
      return;
    }
    conclude(socket, verdict, secret);
  });

  function unavailable(err: unknown): Refusal {
    deps.logger.error({ err }, "client certificate check failed; refusing the handshake");
    return { reason: "registry-unavailable", detail: "the registry cannot be read", alert: TlsAlert.internalError };
  }

  function conclude(socket: TLSSocket, refusal: Refusal | undefined, secret: Buffer | undefined): void {
    if (!refusal) {
      secret?.fill(0);
      return;
    }
    refused.add(socket);
    record(sourceOf(socket), refusal, socket.isSessionReused());
    closeWithAlert(socket, refusal.alert, secret);
  }

  https.on("tlsClientError", (err: Error & { code?: string }, socket: TLSSocket) => {
    record(sourceOf(socket), fromTlsError(err));
  });

  function judge(socket: TLSSocket): Refusal | undefined | Promise<Refusal | undefined> {
    if (!socket.authorized) {
      // Development mode: a peer without a valid certificate goes on without a certificate identity.
      if (!required) return undefined;
      return fromVerifyError(socket.authorizationError);
    }
    const cert = socket.getPeerX509Certificate();
    if (!cert)
      return { reason: "no-certificate", detail: "no client certificate", alert: TlsAlert.certificateRequired };
    const certDeviceId = commonNameOf(cert.subject);
    const serial = cert.serialNumber;
    const who = { certDeviceId, serial };
    // A resumed session skips OpenSSL's verification: its certificate may have expired since.
    const now = Date.now();
    if (Date.parse(cert.validTo) < now)
      return { reason: "expired", detail: "CERT_HAS_EXPIRED", alert: TlsAlert.certificateExpired, ...who };
    if (Date.parse(cert.validFrom) > now)
      return { reason: "not-yet-valid", detail: "CERT_NOT_YET_VALID", alert: TlsAlert.badCertificate, ...who };
    const violation = deviceCertificateViolation(cert, ca);
    if (violation) return { reason: "policy", detail: violation, alert: TlsAlert.unsupportedCertificate, ...who };
    const status = options.certificateStatus(certDeviceId, serial);
    return status instanceof Promise ? status.then((s) => byStatus(socket, s, who)) : byStatus(socket, status, who);
  }

  function byStatus(
    socket: TLSSocket,
    status: CertificateStatus,
    who: { certDeviceId: string; serial: string },
  ): Refusal | undefined {
    const { certDeviceId, serial } = who;
    switch (status) {
      case "ok":
        identities.set(socket, { certDeviceId, serial });
        return undefined;
      case "revoked":
        return { reason: "revoked", detail: "certificate revoked", alert: TlsAlert.certificateRevoked, ...who };
      case "device-disabled":
        return { reason: "device-disabled", detail: "device disabled", alert: TlsAlert.accessDenied, ...who };
      case "unknown-device":
        return { reason: "unknown-device", detail: "no such device", alert: TlsAlert.accessDenied, ...who };
    }
  }

  function record(source: string, refusal: Refusal, tlsResumed = false): void {
    try {
      deps.logger.debug({ source, reason: refusal.reason, detail: refusal.detail }, "TLS handshake refused");
      auditThrottled(deps, `tls:${source}:${refusal.reason}`, {
        type: "login.failure",
        actor: refusal.certDeviceId ? `device:${refusal.certDeviceId}` : "unknown",
        outcome: "failure",
        source,
        code: ErrorCode.Tls,
        details: {
          stage: "tls-handshake",
          reason: refusal.reason,
          detail: refusal.detail,
          certDeviceId: refusal.certDeviceId ?? null,
          serial: refusal.serial ?? null,
          tlsResumed,
        },
      });
    } catch (err) {
      deps.logger.error({ err, source }, "could not record a refused TLS handshake");
    }
  }

  return {
    isRefused: (socket) => refused.has(socket),
    decided: (socket) => pending.get(socket),
    identityOf: (socket) => identities.get(socket),
    sourceOf,
    noteAccepted,
  };
}

/**
 * Audits a refusal unless the same kind of refusal from the same source was audited
 * `maxFailures` times within the limiter's window: a flood stays visible without filling the log.
 * Returns whether it was audited (the caller logs it only then).
 */
export function auditThrottled(deps: EdgeDeps, key: string, event: AuditEvent): boolean {
  if (deps.sourceLimiter.isBlocked(key)) return false;
  deps.sourceLimiter.recordFailure(key);
  deps.audit.append(event);
  return true;
}

/**
 * Sends the alert after the records OpenSSL still has to flush (its session tickets), then ends
 * the TCP connection; the socket is destroyed within a second whatever the peer does.
 */
function closeWithAlert(socket: TLSSocket, alert: number, secret: Buffer | undefined): void {
  const raw = (socket as TLSSocket & { _handle?: { _parentWrap?: Socket } })._handle?._parentWrap;
  const cipher = socket.getCipher()?.standardName ?? "";
  const record =
    secret && raw && socket.getProtocol() === "TLSv1.3"
      ? tls13AlertRecord(cipher, secret, socket.isSessionReused() ? 0 : 2, alert)
      : undefined;
  secret?.fill(0);
  socket.on("error", () => undefined);
  raw?.on("error", () => undefined);
  setImmediate(() => {
    if (record && raw && !raw.destroyed) {
      raw.end(record);
    } else {
      socket.end();
    }
    setTimeout(() => socket.destroy(), 1000).unref();
  });
}

const UNKNOWN_CA = new Set([
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "CERT_UNTRUSTED",
  "CERT_SIGNATURE_FAILURE",
]);

function fromVerifyError(code: string | Error | null | undefined): Refusal {
  const text = typeof code === "string" ? code : (code?.message ?? "unknown");
  if (UNKNOWN_CA.has(text)) return { reason: "unknown-ca", detail: text, alert: TlsAlert.unknownCa };
  if (text === "CERT_HAS_EXPIRED") return { reason: "expired", detail: text, alert: TlsAlert.certificateExpired };
  if (text === "CERT_NOT_YET_VALID") return { reason: "not-yet-valid", detail: text, alert: TlsAlert.badCertificate };
  if (text === "CERT_REVOKED") return { reason: "revoked", detail: text, alert: TlsAlert.certificateRevoked };
  if (
    text === "INVALID_PURPOSE" ||
    text === "INVALID_CA" ||
    text.endsWith("_TOO_SMALL") ||
    text.endsWith("_TOO_WEAK")
  ) {
    return { reason: "policy", detail: text, alert: TlsAlert.unsupportedCertificate };
  }
  return { reason: "untrusted", detail: text, alert: TlsAlert.badCertificate };
}

function fromTlsError(err: Error & { code?: string }): Refusal {
  const code = err.code ?? err.message;
  if (code === "ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE" || /certificate required/i.test(err.message)) {
    return { reason: "no-certificate", detail: code, alert: TlsAlert.certificateRequired };
  }
  return { reason: "protocol", detail: code, alert: TlsAlert.internalError };
}
