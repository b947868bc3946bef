import { createHash, createPrivateKey, type KeyObject, X509Certificate } from "node:crypto";
import { checkServerIdentity, type PeerCertificate } from "node:tls";
import { ErrorCode, OutpostError } from "@outpost/protocol";

/** TLS settings of the device connection. Mutual TLS is used whenever `cert` and `key` are given. */
export interface TlsOptions {
  /** PEM of the CA(s) that issued the server certificate. Required: the system store is not used. */
  ca: string | Buffer;
  /** PEM of the device certificate (its subject CN is the device identity). Default: none. */
  cert?: string | Buffer;
  /** PEM of the device private key, possibly encrypted. Default: none. */
  key?: string | Buffer;
  /** Passphrase of an encrypted `key`. Default: none. Never logged. */
  passphrase?: string;
  /** Server name for SNI and certificate host checks. Default: the host of the URL. */
  servername?: string;
  /**
   * Base64 SHA-256 digests of acceptable server public keys (DER SubjectPublicKeyInfo), checked in
   * addition to CA validation. Default: no pinning. Compute one with {@link spkiPin}.
   */
  pins?: string[];
  /**
   * Development only: accept any server certificate (self-signed, wrong host). Logs a warning on
   * every connection. Pins, when given, are still enforced. Default false.
   */
  insecureSkipVerify?: boolean;
  /**
   * Resume the previous TLS session on a reconnect (an abbreviated handshake; the server still sees
   * the same device certificate and checks it). Default true.
   */
  resumeSessions?: boolean;
}

/**
 * Checks the device identity once, when the client is created, so a wrong passphrase or a key that
 * does not belong to the certificate is a clear configuration error instead of a TLS failure at
 * every connection attempt. Returns the problem, or undefined.
 */
export function checkDeviceIdentity(tls: TlsOptions): OutpostError | undefined {
  const bad = (message: string, cause?: unknown) =>
    new OutpostError(ErrorCode.InvalidConfig, message, cause === undefined ? {} : { cause });
  if ((tls.cert === undefined) !== (tls.key === undefined)) return bad("tls.cert and tls.key go together");
  if (tls.cert === undefined || tls.key === undefined) return undefined;
  const pem = tls.key.toString();
  const encrypted = /ENCRYPTED/.test(pem);
  let key: KeyObject;
  try {
    key = createPrivateKey(tls.passphrase === undefined ? { key: pem } : { key: pem, passphrase: tls.passphrase });
  } catch (cause) {
    if (encrypted && tls.passphrase === undefined) return bad("tls.key is encrypted: tls.passphrase is required");
    if (encrypted) return bad("tls.key cannot be decrypted: wrong tls.passphrase", cause);
    return bad("tls.key is not a PEM private key", cause);
  }
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(tls.cert);
  } catch (cause) {
    return bad("tls.cert is not a PEM certificate", cause);
  }
  if (!cert.checkPrivateKey(key)) return bad("tls.key does not belong to tls.cert");
  return undefined;
}

/**
 * The TLS options with an encrypted device key decrypted once, in memory. Key derivation for a
 * passphrase-protected key costs hundreds of milliseconds by design (600,000 PBKDF2 iterations);
 * paying it on every reconnect would slow a fleet's return after a server restart and every flaky
 * link. Call after {@link checkDeviceIdentity} has accepted the options.
 */
export function withDecryptedKey(tls: TlsOptions): TlsOptions {
  if (tls.key === undefined || tls.passphrase === undefined) return tls;
  const key = createPrivateKey({ key: tls.key.toString(), passphrase: tls.passphrase });
  const { passphrase: _passphrase, ...rest } = tls;
  return { ...rest, key: key.export({ type: "pkcs8", format: "pem" }) };
}

/** The pin of a certificate: base64 SHA-256 of its DER SubjectPublicKeyInfo. */
export function spkiPin(certificate: string | Buffer): string {
  const spki = new X509Certificate(certificate).publicKey.export({ type: "spki", format: "der" });
  return createHash("sha256").update(spki).digest("base64");
}

/** Checks `cert` against `pins`; returns an OUTPOST_TLS error on mismatch. */
export function checkPins(cert: PeerCertificate | undefined, pins: readonly string[]): OutpostError | undefined {
  if (pins.length === 0) return undefined;
  if (!cert?.raw) return new OutpostError(ErrorCode.Tls, "server presented no certificate to check against pins");
  const pin = spkiPin(cert.raw);
  if (pins.includes(pin)) return undefined;
  return new OutpostError(ErrorCode.Tls, "server certificate public key does not match any configured pin");
}

/** A `checkServerIdentity` that runs Node's host check, then the pin check. */
export function identityChecker(pins: readonly string[]) {
  return (host: string, cert: PeerCertificate): Error | undefined =>
    checkServerIdentity(host, cert) ?? checkPins(cert, pins);
}

const TLS_ERROR = /CERT|SSL|TLS|UNABLE_TO_|SELF_SIGNED|DEPTH_ZERO|HOSTNAME|ALTNAME/;

/** True when a socket error is a TLS/certificate failure rather than a network one. */
export function isTlsFailure(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  if (typeof code === "string" && TLS_ERROR.test(code)) return true;
  const message = err instanceof Error ? err.message : "";
  return /certificate|ssl|tls alert|handshake/i.test(message);
}
