import { ErrorCode, ProtocolError } from "./errors.js";

/** Highest protocol version this implementation speaks. */
export const PROTOCOL_VERSION = 1;
/** Lowest protocol version this implementation speaks. */
export const MIN_PROTOCOL_VERSION = 1;

/** Picks the highest version in both ranges, or throws OUTPOST_UNSUPPORTED_VERSION. */
export function negotiateVersion(
  peerMin: number,
  peerMax: number,
  min = MIN_PROTOCOL_VERSION,
  max = PROTOCOL_VERSION,
): number {
  const lo = Math.max(peerMin || 1, min);
  const hi = Math.min(peerMax || peerMin || 1, max);
  if (lo > hi) {
    throw new ProtocolError(
      ErrorCode.UnsupportedVersion,
      `no common protocol version: peer speaks ${peerMin}..${peerMax}, we speak ${min}..${max}`,
    );
  }
  return hi;
}
