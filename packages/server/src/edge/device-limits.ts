/** Bounds on what one device may make the server store and process; see {@link DeviceLimits}. */
export interface DeviceLimitOptions {
  /**
   * Distinct properties the server keeps per Thing. A value for a new property name beyond it is
   * refused (item status 413, `OUTPOST_LIMIT_EXCEEDED`); values of existing properties still apply.
   * Default 1000.
   */
  maxPropertiesPerThing?: number;
  /**
   * Events per second one device may send, sustained (Event and EventBatch together). A request
   * over it is refused as a whole with 429 `OUTPOST_TOO_MANY_REQUESTS`, nothing applied, so the
   * SDK keeps the events queued and sends them again later. Default 1000.
   */
  eventsPerSecond?: number;
  /** Events a device may send at once after a quiet spell (the bucket size). Default 10 000. */
  eventBurst?: number;
}

/** The defaults of {@link DeviceLimitOptions}. */
export const DEFAULT_DEVICE_LIMITS: Required<DeviceLimitOptions> = {
  maxPropertiesPerThing: 1000,
  eventsPerSecond: 1000,
  eventBurst: 10_000,
};

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * The server-wide state of the per-device bounds: one token bucket of events per device id, so
 * that reconnecting does not refill it. Memory: one small entry per device that sent events.
 */
export class DeviceLimits {
  readonly maxPropertiesPerThing: number;
  readonly eventsPerSecond: number;
  readonly eventBurst: number;
  readonly #buckets = new Map<string, Bucket>();

  constructor(options: DeviceLimitOptions = {}) {
    this.maxPropertiesPerThing = options.maxPropertiesPerThing ?? DEFAULT_DEVICE_LIMITS.maxPropertiesPerThing;
    this.eventsPerSecond = options.eventsPerSecond ?? DEFAULT_DEVICE_LIMITS.eventsPerSecond;
    this.eventBurst = options.eventBurst ?? DEFAULT_DEVICE_LIMITS.eventBurst;
  }

  /**
   * Takes `count` events from `deviceId`'s bucket. A request is admitted whenever the bucket holds
   * at least one event, and may take it below zero (a batch larger than the burst must still pass once);
   * the debt is paid back at `eventsPerSecond`. Returns 0 when admitted, else the ms to wait.
   */
  takeEvents(deviceId: string, count: number, now = Date.now()): number {
    const bucket = this.#buckets.get(deviceId) ?? { tokens: this.eventBurst, at: now };
    const refill = (Math.max(0, now - bucket.at) * this.eventsPerSecond) / 1000;
    bucket.tokens = Math.min(this.eventBurst, bucket.tokens + refill);
    bucket.at = now;
    this.#buckets.set(deviceId, bucket);
    if (bucket.tokens < 1) return Math.ceil(((1 - bucket.tokens) * 1000) / this.eventsPerSecond);
    bucket.tokens -= count;
    return 0;
  }
}
