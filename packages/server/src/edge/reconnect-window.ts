/** Devices per second a server is assumed to take back after a restart, by default. */
export const DEFAULT_RECONNECT_RATE = 200;

/** The longest spread a server asks for, in ms. */
export const MAX_RECONNECT_WINDOW_MS = 600_000;

/**
 * The reconnect window told to a device at Auth (`AuthResult.reconnect_window_ms`): how long a
 * fleet of `devices` needs to come back at `ratePerSecond`, so that devices spreading their
 * retries uniformly over it arrive no faster than the server takes them. Under a second no spread
 * is asked for (0); at most {@link MAX_RECONNECT_WINDOW_MS}.
 */
export function reconnectWindowMs(devices: number, ratePerSecond: number): number {
  if (!(ratePerSecond > 0) || !(devices > 0)) return 0;
  const ms = Math.ceil((devices / ratePerSecond) * 1000);
  return ms < 1000 ? 0 : Math.min(ms, MAX_RECONNECT_WINDOW_MS);
}
