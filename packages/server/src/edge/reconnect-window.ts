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

/** How often the registered fleet is counted again, in ms. */
const FLEET_COUNT_INTERVAL_MS = 60_000;

/**
 * The number of devices expected back after a restart: the larger of the registered fleet
 * (counted in the background at most once a minute, so a login never waits for it) and the
 * devices connected and waiting now.
 */
export class FleetSize {
  #registered = 0;
  #countedAt = Number.NEGATIVE_INFINITY;
  #counting = false;

  constructor(
    private readonly count: () => Promise<number>,
    private readonly onError: (err: unknown) => void,
    private readonly now: () => number = Date.now,
  ) {}

  /** The estimate now, given the devices connected and waiting; starts a recount when due. */
  estimate(present: number): number {
    if (!this.#counting && this.now() - this.#countedAt >= FLEET_COUNT_INTERVAL_MS) {
      this.#counting = true;
      this.#countedAt = this.now();
      this.count().then(
        (n) => {
          this.#registered = n;
          this.#counting = false;
        },
        (err: unknown) => {
          this.#counting = false;
          this.onError(err);
        },
      );
    }
    return Math.max(this.#registered, present);
  }
}
