import { createPrivateKey, X509Certificate } from "node:crypto";
import { ErrorCode, OutpostError } from "@outpost/protocol";
import type { Logger } from "../logger.js";
import type { TlsOptions } from "../transport/tls.js";
import { DeviceTunnels } from "./device-tunnels.js";
import type { TunnelOptions } from "./options.js";

/** The device's tunnel end for `options`, with the identity from `tls`; OUTPOST_INVALID_CONFIG without a certificate and key. */
export function createDeviceTunnels(
  options: TunnelOptions,
  tls: TlsOptions | undefined,
  logger: Logger,
  onError: (err: OutpostError) => void,
): DeviceTunnels {
  if (!tls?.cert || !tls.key)
    throw new OutpostError(ErrorCode.InvalidConfig, "tunnels need the device certificate and key (tls.cert, tls.key)");
  const cert = new X509Certificate(tls.cert);
  const deviceId = /(?:^|\n)CN=([^\n]*)/.exec(cert.subject)?.[1] ?? "";
  return new DeviceTunnels(options, {
    privateKey: createPrivateKey(tls.key),
    certificate: new Uint8Array(cert.raw),
    deviceId,
    logger,
    onError,
  });
}
