import { ErrorCode, ProtocolError } from "./errors.js";

/**
 * Highest protocol version this implementation speaks. Versions travel as integers: wire version 1
 * is protocol 1.0 and wire version 2 is protocol 1.1 (docs/protocol.md §8).
 */
export const PROTOCOL_VERSION = 2;
/** Lowest protocol version this implementation speaks: 1 (protocol 1.0), so 1.0 devices keep working. */
export const MIN_PROTOCOL_VERSION = 1;

/** The protocol's name for a wire version number: 1 -> "1.0", 2 -> "1.1". */
export function versionName(wireVersion: number): string {
  return wireVersion >= 1 ? `1.${wireVersion - 1}` : String(wireVersion);
}

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
