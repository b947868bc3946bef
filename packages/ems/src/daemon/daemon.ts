import type { EdgeClient, FileQueueStore, Logger } from "@outpost/sdk";
import { ErrorCode, OutpostError } from "@outpost/protocol";
import type { EmsConfig } from "../config/ems-config.js";
import { checkIdentities } from "../config/identity.js";
import type { LocalFilesApi, LocalTransfer, LocalTransferRequest } from "../local/local-files.js";
import { LocalApiServer } from "../local/local-server.js";
import type { LocalApiContext, LocalThing, LocalTunnels } from "../local/routes.js";
import { ServiceBroker } from "../local/service-broker.js";
import { EMS_VERSION } from "../version.js";
import { DeviceIdentity } from "./device-identity.js";
import { type Metric, renderMetrics } from "./metrics.js";
import { ServiceCallbacks } from "./service-callback.js";

/** Options of {@link EmsDaemon}. */
export interface EmsDaemonOptions {
  config: EmsConfig;
  logger: Logger;
  /** Wait after a final connection error (bad key, refused certificate) before trying again. Default 60_000 ms. */
  retryFinalMs?: number;
}

const IDENTITY_METRICS: Array<[string, string, Metric["type"]]> = [
  ["connected", "1 when the identity's connection is up", "gauge"],
  ["connects_total", "Connections established", "counter"],
  ["queue_items", "Values and events waiting for the server's acknowledgement", "gauge"],
  ["queue_bytes", "Bytes of durable queue segment files", "gauge"],
  ["queue_max_bytes", "Bound of the durable queue", "gauge"],
  ["queue_overflows_total", "Writes refused because the queue was full", "counter"],
  ["queue_torn_tails_total", "Torn records dropped at open", "counter"],
  ["queue_corrupt_records_total", "Records failing their checksum at open", "counter"],
  ["property_sets_total", "Property values set through the local API", "counter"],
  ["events_total", "Events emitted through the local API", "counter"],
];

/**
 * The daemon: one connection per device identity (each with its own durable queue and audit
 * log), and one local API that routes each Thing to the identity that claims it.
 */
export class EmsDaemon {
  readonly identities: readonly DeviceIdentity[];
  readonly local: LocalApiServer;
  private readonly broker = new ServiceBroker();
  private readonly callbacks = new ServiceCallbacks();
  private readonly byThing = new Map<string, LocalThing>();
  private readonly started = Date.now();

  constructor(private readonly options: EmsDaemonOptions) {
    const { config, logger } = options;
    const d = config.data;
    checkIdentities(d);
    const built: DeviceIdentity[] = [];
    try {
      for (const identity of config.identities()) {
        built.push(
          new DeviceIdentity({
            config,
            identity,
            logger,
            broker: this.broker,
            callbacks: this.callbacks,
            ...(options.retryFinalMs !== undefined && { retryFinalMs: options.retryFinalMs }),
          }),
        );
      }
    } catch (err) {
      for (const b of built) void b.stop(new OutpostError(ErrorCode.Unavailable, "EMS stopping"));
      throw err;
    }
    this.identities = built;
    for (const i of built) for (const [name, thing] of i.things) this.byThing.set(name, thing);
    const tcp = d.local.tcp;
    const token = tcp ? config.secret("local.token") : undefined;
    const ctx: LocalApiContext = {
      thing: (name) => this.byThing.get(name),
      broker: this.broker,
      tunnels: this.tunnels(),
      files: this.files(),
      status: () => this.status(),
      metrics: () => this.metrics(),
      maxBodyBytes: d.local.maxBodyBytes ?? 1024 * 1024,
    };
    this.local = new LocalApiServer(ctx, {
      socket: d.local.socket ?? config.paths.socket,
      ...(tcp !== undefined && { tcp }),
      ...(d.local.allowNonLoopback !== undefined && { allowNonLoopback: d.local.allowNonLoopback }),
      ...(token !== undefined && { token }),
      logger,
    });
  }

  /** The default identity's connection. */
  get client(): EdgeClient {
    return this.identities[0]!.client;
  }

  /** The default identity's durable queue. */
  get store(): FileQueueStore {
    return this.identities[0]!.store;
  }

  /** Starts the local API, then connects every identity in the background (the local API works offline). */
  async start(): Promise<void> {
    await this.local.listen();
    for (const i of this.identities) i.connect();
  }

  /** Stops accepting local requests, then flushes (bounded) and closes every identity. */
  async stop(): Promise<void> {
    this.broker.close();
    for (const i of this.identities) {
      i.files.close();
      i.approvals.close();
    }
    await this.local.close();
    await Promise.all(this.identities.map((i) => i.stop(new OutpostError(ErrorCode.Unavailable, "EMS stopping"))));
  }

  /**
   * What `GET /status` and `outpost-ems status` show: the default identity's connection, queue,
   * Things, files and tunnels at the top level (as with one identity), and every identity's in
   * `identities`.
   */
  status(): Record<string, unknown> {
    const all = this.identities.map((i) => i.status());
    const { name: _name, ...first } = all[0]!;
    return {
      version: EMS_VERSION,
      ...first,
      uptimeS: Math.round((Date.now() - this.started) / 1000),
      identities: all,
      services: { waiting: this.broker.size, ...this.broker.counters, callbacks: this.callbacks.counters },
      local: {
        socket: this.options.config.data.local.socket ?? this.options.config.paths.socket,
        ...(this.local.tcpAddress && { tcp: this.local.tcpAddress }),
      },
    };
  }

  /** Prometheus text for `GET /metrics`; per-identity metrics carry the label `identity`. */
  metrics(): string {
    const samples = this.identities.map((i) => ({ identity: i.name, values: i.samples() }));
    const perIdentity = IDENTITY_METRICS.map(([name, help, type]): Metric => ({
      name: `outpost_ems_${name}`,
      help,
      type,
      samples: samples.map((s) => ({ labels: { identity: s.identity }, value: s.values[name] ?? 0 })),
    }));
    const m = (name: string, help: string, value: number): Metric => ({
      name: `outpost_ems_${name}`,
      help,
      type: "counter",
      samples: [{ value }],
    });
    const byLabel = (name: string, help: string, label: string, values: Record<string, number>): Metric => ({
      name: `outpost_ems_${name}`,
      help,
      type: "counter",
      samples: Object.entries(values).map(([k, value]) => ({ labels: { [label]: k }, value })),
    });
    return renderMetrics([
      ...perIdentity,
      m("service_calls_total", "Service calls from the server", this.broker.counters.calls),
      m("service_calls_expired_total", "Service calls no local process answered in time", this.broker.counters.expired),
      byLabel("service_callbacks_total", "Service calls made to local callback endpoints", "outcome", {
        answered: this.callbacks.counters.answered,
        failed: this.callbacks.counters.failed,
      }),
      byLabel("local_requests_total", "Local API answers by status class", "class", this.local.counters.requests),
      byLabel("local_refused_total", "Local API requests refused", "reason", this.local.counters.refused),
    ]);
  }

  private tunnels(): LocalTunnels {
    return {
      list: () => this.identities.flatMap((i) => i.approvals.list()),
      decide: (id, ok) => this.identities.some((i) => i.approvals.decide(id, ok)),
    };
  }

  /** Transfers start on the identity the request names (default "default"); ids are looked up on all. */
  private files(): LocalFilesApi {
    const find = (id: string): DeviceIdentity | undefined => this.identities.find((i) => i.files.get(id) !== undefined);
    return {
      start: (req: LocalTransferRequest) => {
        const name = req.identity ?? this.identities[0]!.name;
        const identity = this.identities.find((i) => i.name === name);
        if (!identity) throw new OutpostError(ErrorCode.NotFound, `no identity ${JSON.stringify(name)}`);
        return identity.files.start(req);
      },
      list: (): LocalTransfer[] => this.identities.flatMap((i) => i.files.list()),
      get: (id) => find(id)?.files.get(id),
      cancel: async (id) => (await find(id)?.files.cancel(id)) ?? false,
    };
  }
}
