import type { Transport } from "@outpost/protocol";
import {
  CAPABILITY_DELIVERY_EPOCH,
  CAPABILITY_EVENT_BATCH,
  Channel,
  type Envelope,
  ErrorCode,
  type EventMessage,
  fromWireMap,
  type ItemStatus,
  createMemoryTransportPair as memoryPair,
  type OutpostValue,
  type PropertyValue,
  RemoteError,
  type Response,
  toWireValue,
  type WireLimits,
} from "@outpost/protocol";
import type { TransportFactory } from "../../src/options.js";

/** One accepted connection of the fake server. */
export interface FakeConnection {
  url: string;
  channel: Channel;
  received: Envelope[];
}

/**
 * What the fake server does with a PropertyUpdate: answer, or "drop" the ack. The default answers
 * like the real server: each value is applied unless its (epoch, seq) was applied before, and the
 * ack is 200 without items when every value was accepted. "drop": not applied, no answer; "lost":
 * applied, but the answer never reaches the device.
 */
export type UpdateHook = (values: PropertyValue[], conn: FakeConnection) => Response | "drop" | "lost" | undefined;

/** What the fake server does with the events of an Event or EventBatch: answer (default: like the real server) or "drop" the ack. */
export type EventHook = (events: EventMessage[], conn: FakeConnection) => Response | "drop" | "lost" | undefined;

/** One connection's Hello: the delivery epoch it announced (0 without "delivery-epoch"). */
interface HelloState {
  epoch: number;
}

/**
 * An in-test server speaking the protocol over memory transports through a real Channel, answering
 * as the reference server does: HelloAck with its capabilities, AuthResult with the delivery record
 * of the device's queue epoch, per-Thing bind items, compact acks for updates and events, device
 * service calls.
 */
export class FakeServer {
  readonly connections: FakeConnection[] = [];
  /** Property values applied (a value whose (epoch, seq) was applied before is not applied again). */
  readonly updates: PropertyValue[] = [];
  /** Events applied, deduplicated like `updates`. */
  readonly events: EventMessage[] = [];
  /** Applied seqs per queue epoch (epoch 0: a device without "delivery-epoch"). */
  readonly applied = new Map<number, Set<number>>();
  readonly urls: string[] = [];
  authStatus = 200;
  /** AuthResult.reconnect_window_ms sent at a successful Auth (0: none). */
  reconnectWindowMs = 0;
  /** Receive limits announced in HelloAck (empty: the defaults). */
  limits: WireLimits = {};
  refusedThings = new Set<string>();
  /** Number of upcoming connection attempts that fail with OUTPOST_UNAVAILABLE. */
  failNext = 0;
  onUpdate: UpdateHook | undefined;
  onEvents: EventHook | undefined;
  /** Capabilities announced in HelloAck (default: the reference server's). Set [] to act as a 1.0 server. */
  capabilities: string[] = [CAPABILITY_EVENT_BATCH, CAPABILITY_DELIVERY_EPOCH];
  services: Record<string, (params: Record<string, OutpostValue>) => OutpostValue> = {};

  readonly factory: TransportFactory = async (url) => {
    this.urls.push(url);
    if (this.failNext > 0) {
      this.failNext -= 1;
      throw new RemoteError(ErrorCode.Unavailable, "connection refused");
    }
    const [device, server] = memoryPair();
    this.accept(server, url);
    return device;
  };

  /** Serves one server-side transport (memory or a real socket). */
  accept(transport: Transport, url: string): FakeConnection {
    const conn: FakeConnection = { url, channel: new Channel(transport), received: [] };
    this.connections.push(conn);
    void this.serve(conn);
    return conn;
  }

  get last(): FakeConnection {
    const c = this.connections.at(-1);
    if (!c) throw new Error("no connection yet");
    return c;
  }

  /** Envelopes of a body kind received on all connections. */
  all(kind: Envelope["body"]): Envelope[] {
    return this.connections.flatMap((c) => c.received.filter((e) => e.body === kind));
  }

  /** Applies items not seen before in `epoch`; one ItemStatus per item (200, "duplicate" for seen ones). */
  private apply<T extends { seq?: number | null }>(epoch: number, items: T[], sink: T[]): ItemStatus[] {
    let seen = this.applied.get(epoch);
    if (!seen) this.applied.set(epoch, (seen = new Set()));
    return items.map((item) => {
      const seq = Number(item.seq ?? 0);
      if (seq > 0 && seen.has(seq)) return { key: "", status: 200, message: "duplicate" };
      if (seq > 0) seen.add(seq);
      sink.push(item);
      return { key: "", status: 200, message: "" };
    });
  }

  /** The highest run of applied seqs of `epoch`, as the real server tells it at connect. */
  private lastRun(epoch: number): { delivered: { firstSeq: number; lastSeq: number } } {
    const seen = this.applied.get(epoch);
    if (!seen || seen.size === 0) return { delivered: { firstSeq: 0, lastSeq: 0 } };
    const top = Math.max(...seen);
    let from = top;
    while (seen.has(from - 1)) from -= 1;
    return { delivered: { firstSeq: from, lastSeq: top } };
  }

  private async serve(conn: FakeConnection): Promise<void> {
    const ch = conn.channel;
    const hello: HelloState = { epoch: 0 };
    const epochs = (): boolean => this.capabilities.includes(CAPABILITY_DELIVERY_EPOCH);
    for await (const env of ch.messages) {
      conn.received.push(env);
      const id = env.requestId;
      switch (env.body) {
        case "hello":
          if (epochs() && env.hello?.capabilities?.includes(CAPABILITY_DELIVERY_EPOCH)) {
            hello.epoch = Number(env.hello.queueEpoch ?? 0);
          }
          ch.send({
            requestId: id,
            helloAck: { version: 1, serverId: "fake", limits: this.limits, capabilities: this.capabilities },
          });
          break;
        case "auth":
          ch.send({
            requestId: id,
            authResult: {
              status: this.authStatus,
              message: this.authStatus === 200 ? "" : "refused",
              deviceId: "dev-1",
              sessionId: `s${this.connections.length}`,
              ...(hello.epoch > 0 && this.authStatus === 200 ? this.lastRun(hello.epoch) : {}),
              ...(this.authStatus === 200 && { reconnectWindowMs: this.reconnectWindowMs }),
            },
          });
          break;
        case "bind":
          ch.respond(id, {
            status: 200,
            items: (env.bind?.things ?? []).map((t) => ({ key: t, status: this.refusedThings.has(t) ? 403 : 200 })),
          });
          break;
        case "propertyUpdate": {
          const values = env.propertyUpdate?.values ?? [];
          const hook = this.onUpdate?.(values as PropertyValue[], conn);
          if (hook === "drop") break;
          if (hook && hook !== "lost") ch.respond(id, hook);
          else {
            this.apply(epochs() ? Number(env.propertyUpdate?.epoch ?? 0) : 0, values as PropertyValue[], this.updates);
            if (hook !== "lost") ch.respond(id, { status: 200 });
          }
          break;
        }
        case "event":
        case "eventBatch": {
          const events = (env.event ? [env.event] : (env.eventBatch?.events ?? [])) as EventMessage[];
          const hook = this.onEvents?.(events, conn);
          if (hook === "drop") break;
          if (hook && hook !== "lost") ch.respond(id, hook);
          else {
            const epoch = Number((env.event ? env.event.epoch : env.eventBatch?.epoch) ?? 0);
            const items = this.apply(epochs() ? epoch : 0, events, this.events);
            if (hook !== "lost") {
              ch.respond(id, env.event ? { status: 200, message: items[0]?.message ?? "" } : { status: 200 });
            }
          }
          break;
        }
        case "serviceInvoke": {
          const fn = this.services[env.serviceInvoke?.service ?? ""];
          if (!fn) ch.respondError(id, new RemoteError(ErrorCode.NotFound, "no such service", { status: 404 }));
          else ch.respond(id, { status: 200, result: toWireValue(fn(fromWireMap(env.serviceInvoke?.params))) });
          break;
        }
        default:
          break;
      }
    }
  }
}

/** Resolves when `predicate` holds, polling every few ms; rejects after `maxMs`. */
export async function until(predicate: () => boolean, maxMs = 3_000): Promise<void> {
  const start = Date.now();
  while (!predicate()) {
    if (Date.now() - start > maxMs) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 5));
  }
}
