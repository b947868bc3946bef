import type { Transport } from "@outpost/protocol";
import {
  Channel,
  type Envelope,
  ErrorCode,
  type EventMessage,
  fromWireMap,
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

/** What the fake server does with a PropertyUpdate: answer (default: all 200) or "drop" the ack. */
export type UpdateHook = (values: PropertyValue[], conn: FakeConnection) => Response | "drop" | undefined;

/** What the fake server does with the events of an Event or EventBatch: answer (default: 200) or "drop" the ack. */
export type EventHook = (events: EventMessage[], conn: FakeConnection) => Response | "drop" | undefined;

/**
 * An in-test server speaking the protocol over memory transports through a real Channel:
 * HelloAck, AuthResult, per-Thing bind items, acks for updates and events, device service calls.
 */
export class FakeServer {
  readonly connections: FakeConnection[] = [];
  readonly updates: PropertyValue[] = [];
  readonly events: EventMessage[] = [];
  readonly urls: string[] = [];
  authStatus = 200;
  /** Receive limits announced in HelloAck (empty: the defaults). */
  limits: WireLimits = {};
  refusedThings = new Set<string>();
  /** Number of upcoming connection attempts that fail with OUTPOST_UNAVAILABLE. */
  failNext = 0;
  onUpdate: UpdateHook | undefined;
  onEvents: EventHook | undefined;
  /** Capabilities announced in HelloAck (default none, like a server that predates EventBatch). */
  capabilities: string[] = [];
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

  private async serve(conn: FakeConnection): Promise<void> {
    const ch = conn.channel;
    for await (const env of ch.messages) {
      conn.received.push(env);
      const id = env.requestId;
      switch (env.body) {
        case "hello":
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
          this.updates.push(...(values as PropertyValue[]));
          ch.respond(
            id,
            hook ?? { status: 200, items: values.map((v) => ({ key: `${v.thing}/${v.name}`, status: 200 })) },
          );
          break;
        }
        case "event":
        case "eventBatch": {
          const events = (env.event ? [env.event] : (env.eventBatch?.events ?? [])) as EventMessage[];
          const hook = this.onEvents?.(events, conn);
          if (hook === "drop") break;
          this.events.push(...events);
          ch.respond(id, hook ?? { status: 200 });
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
