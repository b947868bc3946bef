/** Limits on connections that have not authenticated yet. */
export interface PendingLimits {
  /** At most this many in total. */
  total: number;
  /** At most this many per source address. */
  perSource: number;
  /** At most this many per presenting certificate identity. */
  perIdentity: number;
}

/** Why a connection was not admitted: the limit it would have exceeded. */
export type PendingRefusal = "total" | "source" | "identity";

interface Entry {
  source: string;
  identity: string | undefined;
  isPending: () => boolean;
}

/**
 * Counts connections between the WebSocket upgrade and a successful Auth, in total, per source
 * address and per certificate identity, so that one certificate or one address cannot fill the
 * global cap and keep every other device out. Entries leave when `isPending` turns false (checked
 * on each admission, so the cost is bounded by the number of pending connections) or on `release`.
 */
export class PendingConnections {
  readonly #limits: PendingLimits;
  readonly #entries = new Map<object, Entry>();
  readonly #bySource = new Map<string, number>();
  readonly #byIdentity = new Map<string, number>();

  constructor(limits: PendingLimits) {
    this.#limits = limits;
  }

  /** Connections counted as pending now. */
  get size(): number {
    this.#prune();
    return this.#entries.size;
  }

  /**
   * Admits `token` as a pending connection, or says which limit refuses it. `isPending` tells
   * later whether the connection is still unauthenticated.
   */
  admit(
    token: object,
    source: string,
    identity: string | undefined,
    isPending: () => boolean,
  ): PendingRefusal | undefined {
    this.#prune();
    if (this.#entries.size >= this.#limits.total) return "total";
    if ((this.#bySource.get(source) ?? 0) >= this.#limits.perSource) return "source";
    if (identity !== undefined && (this.#byIdentity.get(identity) ?? 0) >= this.#limits.perIdentity) return "identity";
    this.#entries.set(token, { source, identity, isPending });
    bump(this.#bySource, source, 1);
    if (identity !== undefined) bump(this.#byIdentity, identity, 1);
    return undefined;
  }

  /** Stops counting `token` (the connection authenticated or closed). */
  release(token: object): void {
    const e = this.#entries.get(token);
    if (!e) return;
    this.#entries.delete(token);
    bump(this.#bySource, e.source, -1);
    if (e.identity !== undefined) bump(this.#byIdentity, e.identity, -1);
  }

  #prune(): void {
    for (const [token, e] of this.#entries) if (!e.isPending()) this.release(token);
  }
}

function bump(map: Map<string, number>, key: string, by: number): void {
  const n = (map.get(key) ?? 0) + by;
  if (n <= 0) map.delete(key);
  else map.set(key, n);
}
