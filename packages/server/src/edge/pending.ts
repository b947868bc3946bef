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
}

/**
 * Counts connections between the WebSocket upgrade and a successful Auth, in total, per source
 * address and per certificate identity, so that one certificate or one address cannot fill the
 * global cap and keep every other device out. An entry leaves on `release`, which the edge calls
 * when the connection authenticates or closes. Every operation is O(1).
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
    return this.#entries.size;
  }

  /** Admits `token` as a pending connection until {@link release}, or says which limit refuses it. */
  admit(token: object, source: string, identity: string | undefined): PendingRefusal | undefined {
    if (this.#entries.size >= this.#limits.total) return "total";
    if ((this.#bySource.get(source) ?? 0) >= this.#limits.perSource) return "source";
    if (identity !== undefined && (this.#byIdentity.get(identity) ?? 0) >= this.#limits.perIdentity) return "identity";
    this.#entries.set(token, { source, identity });
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
}

function bump(map: Map<string, number>, key: string, by: number): void {
  const n = (map.get(key) ?? 0) + by;
  if (n <= 0) map.delete(key);
  else map.set(key, n);
}
