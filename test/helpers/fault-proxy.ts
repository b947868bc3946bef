import { connect, createServer, type Server, type Socket } from "node:net";

/** Options of {@link FaultProxy}; every fault is off by default. */
export interface FaultProxyOptions {
  /** Added delay before each chunk is forwarded, in ms. Default 0. */
  latencyMs?: number;
  /** Cut every connection after it has carried this many bytes (both directions). Default: never. */
  cutAfterBytes?: number;
  /**
   * Cut each connection when the server sends its Nth chunk, without delivering that chunk: the
   * server has acted on a request whose answer the device never sees (a lost acknowledgement).
   * Counted per connection, so the handshake's first chunks always pass. Default: never.
   */
  cutOnServerChunk?: number;
  /**
   * A dead link behind a NAT that forgot the connection: bytes in both directions are dropped and
   * nothing is reset, and while it is set a side that closes its socket does not close the other.
   * Default false.
   */
  blackhole?: boolean;
}

/**
 * A TCP proxy on 127.0.0.1 for fault injection: TLS passes through it untouched, so the device
 * and the server still authenticate each other end to end. The kernel has no netem here, so this
 * is how tests emulate latency and links that drop.
 */
export class FaultProxy {
  private readonly server: Server;
  private readonly pairs = new Map<[Socket, Socket], number>();
  private options: FaultProxyOptions;
  /** Connections cut by the proxy so far. */
  cuts = 0;
  /** Connections accepted so far. */
  accepted = 0;

  private constructor(targetPort: number, options: FaultProxyOptions) {
    this.options = options;
    this.server = createServer((client) => {
      this.accepted++;
      const upstream = connect(targetPort, "127.0.0.1");
      const pair: [Socket, Socket] = [client, upstream];
      this.pairs.set(pair, this.accepted);
      let carried = 0;
      let serverChunks = 0;
      const forward = (from: Socket, to: Socket) => {
        from.on("data", (chunk: Buffer) => {
          if (this.options.blackhole) return;
          if (from === upstream && ++serverChunks === this.options.cutOnServerChunk) {
            this.cut(pair);
            return;
          }
          carried += chunk.length;
          const limit = this.options.cutAfterBytes;
          if (limit !== undefined && carried > limit) {
            this.cut(pair);
            return;
          }
          const delay = this.options.latencyMs ?? 0;
          if (delay > 0) setTimeout(() => to.writable && to.write(chunk), delay);
          else if (to.writable) to.write(chunk);
        });
        from.on("error", () => this.options.blackhole || this.cut(pair));
        from.on("close", () => this.options.blackhole || this.cut(pair));
      };
      forward(client, upstream);
      forward(upstream, client);
    });
  }

  static async start(targetPort: number, options: FaultProxyOptions = {}): Promise<FaultProxy> {
    const proxy = new FaultProxy(targetPort, options);
    await new Promise<void>((resolve) => proxy.server.listen(0, "127.0.0.1", resolve));
    return proxy;
  }

  get port(): number {
    const address = this.server.address();
    if (!address || typeof address === "string") throw new Error("proxy is not listening");
    return address.port;
  }

  /** Changes the faults for connections from now on (and the byte budget of open ones). */
  set(options: FaultProxyOptions): void {
    this.options = options;
  }

  /** Cuts every open connection at once, as a dropped link would. */
  cutAll(): void {
    for (const pair of [...this.pairs.keys()]) this.cut(pair);
  }

  /**
   * Cuts the open connections whose accept number (1, 2, ...) `which` selects. A test that cuts
   * only some connections on a timer keeps making progress however slow the machine is: the
   * spared ones always get past their handshake.
   */
  cutWhere(which: (acceptNumber: number) => boolean): void {
    for (const [pair, n] of [...this.pairs]) if (which(n)) this.cut(pair);
  }

  private cut(pair: [Socket, Socket]): void {
    if (!this.pairs.delete(pair)) return;
    this.cuts++;
    pair[0].destroy();
    pair[1].destroy();
  }

  async close(): Promise<void> {
    this.cutAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
