import { type KeyObject, sign, verify, X509Certificate } from "node:crypto";
import { ErrorCode, OutpostError } from "./errors.js";
import { KEY_SHARE_BYTES } from "./sealed.js";
import { type TunnelAccept, type TunnelTranscript, tunnelTranscript } from "./tunnel.js";

/** Ed25519/Ed448 sign the message itself; RSA and EC keys sign its SHA-256. */
function digestFor(key: KeyObject): string | null {
  return key.asymmetricKeyType === "ed25519" || key.asymmetricKeyType === "ed448" ? null : "sha256";
}

/** The device's signature over the transcript, with its certificate's private key. */
export function signTunnelTranscript(privateKey: KeyObject, t: TunnelTranscript): Uint8Array {
  return new Uint8Array(sign(digestFor(privateKey), tunnelTranscript(t), privateKey));
}

/** What the operator client checks a TunnelAccept against. */
export interface TunnelVerifyInput {
  /** PEM of the CA(s) that issue device certificates, obtained out of band (never from the relay). */
  deviceCaPem: string;
  /** The device the operator asked for: it must be the certificate's CN and the accept's device id. */
  deviceId: string;
  sessionId: string;
  target: string;
  operatorShare: Uint8Array;
  /** Time of the check, ms since epoch. Default now. */
  now?: number;
}

/**
 * Checks the device's TunnelAccept: its certificate was issued by the device CA, is valid now and
 * names `deviceId` as its CN, and its key signed this transcript (our share, its share, session id,
 * target). Returns the device's share. Throws OUTPOST_INTEGRITY otherwise: a relay that swapped a
 * share or replayed another session's answer cannot produce that signature.
 */
export function verifyTunnelAccept(accept: TunnelAccept, input: TunnelVerifyInput): Uint8Array {
  const deviceShare = accept.deviceShare ?? new Uint8Array(0);
  if (deviceShare.byteLength !== KEY_SHARE_BYTES)
    throw new OutpostError(ErrorCode.Integrity, "the device's key share is not 32 bytes");
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(Buffer.from(accept.certificate ?? new Uint8Array(0)));
  } catch (cause) {
    throw new OutpostError(ErrorCode.Integrity, "the device sent no readable certificate", { cause });
  }
  if (!issuedByOneOf(cert, input.deviceCaPem))
    throw new OutpostError(ErrorCode.Integrity, "the device certificate was not issued by the trusted device CA");
  const now = input.now ?? Date.now();
  if (now < Date.parse(cert.validFrom) || now > Date.parse(cert.validTo))
    throw new OutpostError(ErrorCode.Integrity, "the device certificate is not valid now");
  const cn = /(?:^|\n)CN=([^\n]*)/.exec(cert.subject)?.[1];
  if (cn !== input.deviceId || accept.deviceId !== input.deviceId)
    throw new OutpostError(
      ErrorCode.Integrity,
      `the tunnel was answered by ${JSON.stringify(cn)}, not ${input.deviceId}`,
    );
  const transcript = tunnelTranscript({
    sessionId: input.sessionId,
    deviceId: input.deviceId,
    target: input.target,
    operatorShare: input.operatorShare,
    deviceShare,
  });
  let ok = false;
  try {
    ok = verify(
      digestFor(cert.publicKey),
      transcript,
      cert.publicKey,
      Buffer.from(accept.signature ?? new Uint8Array(0)),
    );
  } catch {
    ok = false;
  }
  if (!ok)
    throw new OutpostError(ErrorCode.Integrity, "the device's signature over the tunnel handshake does not verify");
  return deviceShare;
}

function issuedByOneOf(cert: X509Certificate, caPem: string): boolean {
  const blocks = caPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  for (const pem of blocks) {
    try {
      const ca = new X509Certificate(pem);
      if (ca.ca && cert.checkIssued(ca) && cert.verify(ca.publicKey)) return true;
    } catch {
      // not a certificate: try the next block
    }
  }
  return false;
}
