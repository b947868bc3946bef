import type { Envelope, EnvelopeInit, GoodbyeReason, OpenStreamOptions, Stream } from "@outpost/protocol";

/** Options of one request sent to a device. */
export interface DeviceRequestOptions {
  /** Rejects with OUTPOST_TIMEOUT after this many ms. Default: the server's requestTimeoutMs. */
  timeoutMs?: number;
  /** Rejects with OUTPOST_ABORTED when aborted. */
  signal?: AbortSignal;
}

/** An authenticated device connection, as the Things layer sees it. */
export interface DeviceLink {
  readonly deviceId: string;
  readonly sessionId: string;
  /** Remote address of the connection. */
  readonly source: string;
  /** Milliseconds since epoch when authentication succeeded. */
  readonly connectedAt: number;
  /** Whether the device bound `thing` on this connection. */
  isBound(thing: string): boolean;
  /** Sends a request to the device; resolves with its successful reply, rejects with a typed error. */
  request(init: EnvelopeInit, options?: DeviceRequestOptions): Promise<Envelope>;
  /**
   * Opens a stream to the device (files, tunnels). Throws OUTPOST_NOT_IMPLEMENTED when the
   * connection has no streams (the device did not announce them).
   */
  openStream?(options: OpenStreamOptions): Stream;
  /** Says goodbye with `reason` (and the stable error `code` behind it, if any) and closes the connection. */
  close(reason: GoodbyeReason, message: string, reconnectAfterMs?: number, code?: string): Promise<void>;
}

/** The authenticated device connections, at most one per device id. */
export class DeviceLinks {
  private readonly links = new Map<string, DeviceLink>();
  private readonly addListeners = new Set<(link: DeviceLink) => void>();

  /** Calls `listener` with every link added from now on (after it is in place); returns the unsubscribe. */
  onAdd(listener: (link: DeviceLink) => void): () => void {
    this.addListeners.add(listener);
    return () => this.addListeners.delete(listener);
  }

  /** Adds `link`; returns the link it replaces for the same device, if any. */
  add(link: DeviceLink): DeviceLink | undefined {
    const previous = this.links.get(link.deviceId);
    this.links.set(link.deviceId, link);
    for (const listener of this.addListeners) queueMicrotask(() => listener(link));
    return previous === link ? undefined : previous;
  }

  /** Removes `link` unless a newer link for the same device already replaced it. */
  remove(link: DeviceLink): void {
    if (this.links.get(link.deviceId) === link) this.links.delete(link.deviceId);
  }

  get(deviceId: string): DeviceLink | undefined {
    return this.links.get(deviceId);
  }

  all(): DeviceLink[] {
    return [...this.links.values()];
  }
}
