/** Limits and hooks of the tunnel relay (docs/tunnels.md, "Limits"). */
export interface TunnelRelayOptions {
  /** Concurrent tunnel sessions per device. Default 8. */
  maxTunnelsPerDevice?: number;
  /** Concurrent tunnel connections (streams to the device) per device, over all its sessions. Default 64. */
  maxConnectionsPerDevice?: number;
  /** A session through which no byte moved for this long is closed, ms. Default 600 000. 0: never. */
  idleTimeoutMs?: number;
  /** A session is closed after this long, ms. Default 28 800 000 (8 h). 0: never. */
  maxSessionMs?: number;
  /** Bandwidth cap of one session, bytes per second over both directions. Default 0: none. */
  bytesPerSecond?: number;
  /** Unsent bytes of one relayed stream at which relaying into it waits. Default 64 KiB. */
  writeHighWaterBytes?: number;
  /**
   * Test hook: sees every chunk the server relays, in either direction, before it is forwarded.
   * The server only ever holds sealed records, and this is how a test shows it.
   */
  tap?: (direction: "to-device" | "to-operator", chunk: Uint8Array) => void;
}

/** One open tunnel session as the operator API lists it. */
export interface TunnelInfo {
  id: string;
  deviceId: string;
  target: string;
  /** "operator:<name>". */
  initiator: string;
  /** ISO 8601. */
  startedAt: string;
  /** Bytes relayed from the operator to the device and back (sealed records). */
  bytesToDevice: number;
  bytesFromDevice: number;
  /** Connections open now, and carried in all. */
  connections: number;
  connectionsTotal: number;
  /** Bytes the server holds for the session now (bounded by the stream windows and high waters). */
  bufferedBytes: number;
}
