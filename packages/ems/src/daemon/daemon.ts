import {
  type ConnectionStatus,
  EdgeClient,
  type EdgeClientOptions,
  FileQueueStore,
  type Logger,
  type ThingHandle,
  type TunnelAuditRecord,
} from "@outpost/sdk";
import { type AuditEvent, ErrorCode, isOutpostError, OutpostError } from "@outpost/protocol";
import { DeviceAuditLog } from "../audit/device-audit.js";
import type { EmsConfig } from "../config/ems-config.js";
import { LocalApiServer } from "../local/local-server.js";
import { ServiceBroker } from "../local/service-broker.js";
import { EMS_VERSION } from "../version.js";
import { clientOptionsFrom } from "./client-options.js";
import { DurableBarrier } from "./durable-barrier.js";
import { TunnelApprovals } from "./tunnel-approvals.js";
import { LocalFiles } from "../local/local-files.js";
import { type Metric, renderMetrics } from "./metrics.js";
import { checkCallback, ServiceCallbacks } from "./service-callback.js";

/** Options of {@link EmsDaemon}. */
export interface EmsDaemonOptions {
  config: EmsConfig;
  logger: Logger;
  /** Wait after a final connection error (bad key, refused certificate) before trying again. Default 60_000 ms. */
  retryFinalMs?: number;
}

/** The daemon: one device connection, the durable queue, and the local API. */
export class EmsDaemon {
  readonly client: EdgeClient;
  readonly store: FileQueueStore;
  readonly local: LocalApiServer;
  private readonly barrier: DurableBarrier;
  private readonly broker = new ServiceBroker();
  private readonly callbacks = new ServiceCallbacks();
  private readonly localFiles: LocalFiles;
  private readonly approvals = new TunnelApprovals();
  private readonly things = new Map<string, ThingHandle>();
  private readonly declared = new Map<string, Set<string>>();
  private readonly logger: Logger;
  private readonly audit: DeviceAuditLog;
  private readonly started = Date.now();
  private readonly counters = { propertySets: 0, events: 0, connects: 0, overflows: 0, clientErrors: 0 };
  private connection: ConnectionStatus = { type: "disconnected" };
  private connectedSince: number | undefined;
  private lastUrl = "";
  private stopping = false;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly options: EmsDaemonOptions) {
    const { config, logger } = options;
    this.logger = logger;
    const d = config.data;
    this.store = new FileQueueStore({
      dir: config.paths.queueDir,
      ...(d.queue.maxBytes !== undefined && { maxBytes: d.queue.maxBytes }),
      ...(d.queue.segmentBytes !== undefined && { segmentBytes: d.queue.segmentBytes }),
      ...(d.queue.fsync !== undefined && { fsync: d.queue.fsync }),
      ...(d.queue.fsyncIntervalMs !== undefined && { fsyncIntervalMs: d.queue.fsyncIntervalMs }),
      onProblem: (p) =>
        p.type === "overflow"
          ? logger.warn("durable queue full: values refused", p)
          : logger.warn(`durable queue: ${p.type} dropped at open`, p),
    });
    this.barrier = new DurableBarrier(this.store);
    this.audit = new DeviceAuditLog(config.paths.audit, (droppedBytes) =>
      logger.warn("device audit log: a torn last record was removed", { droppedBytes }),
    );
    this.client = new EdgeClient({
      ...clientOptionsFrom(config),
      queue: { store: this.barrier, overflow: "reject", maxItems: 50_000_000 },
      ...this.tunnelOptions(),
      ...this.fileOptions(),
      logger,
    });
    this.localFiles = new LocalFiles(this.client.files);
    this.client.on("status", (s) => this.onStatus(s));
    this.client.on("error", (e) => {
      this.counters.clientErrors += 1;
      logger.warn(e.message, { code: e.code });
    });
    this.client.on("queue-overflow", (info) => {
      this.counters.overflows += 1;
      logger.warn("offline queue full: value refused", { ...info });
    });
    for (const t of d.things) {
      const thing = this.client.thing(t.name);
      this.things.set(t.name, thing);
      const names = new Set<string>();
      for (const p of t.properties ?? []) {
        thing.property(p.name, {
          ...(p.type !== undefined && { type: p.type }),
          ...(p.push !== undefined && { push: p.push }),
          ...(p.writable !== undefined && { writable: p.writable }),
        });
        names.add(p.name);
      }
      this.declared.set(t.name, names);
      for (const service of t.services ?? []) {
        if (typeof service === "string") {
          thing.service(service, (params, ctx) => this.broker.call(t.name, service, params, ctx.signal));
        } else {
          const url = checkCallback(t.name, service);
          thing.service(service.name, (params, ctx) => this.callbacks.call(service, url, t.name, params, ctx.signal));
        }
      }
    }
    const tcp = d.local.tcp;
    const token = tcp ? config.secret("local.token") : undefined;
    this.local = new LocalApiServer(
      {
        things: this.things,
        propertyNames: (thing) => [...(this.declared.get(thing) ?? [])],
        remember: (thing, name) => this.declared.get(thing)?.add(name),
        queueSize: () => this.client.queueSize,
        durable: () => this.barrier.afterNextAppend(),
        broker: this.broker,
        tunnels: this.approvals,
        files: this.localFiles,
        status: () => this.status(),
        metrics: () => this.metrics(),
        maxBodyBytes: d.local.maxBodyBytes ?? 1024 * 1024,
        counters: this.counters,
      },
      {
        socket: d.local.socket ?? config.paths.socket,
        ...(tcp !== undefined && { tcp }),
        ...(d.local.allowNonLoopback !== undefined && { allowNonLoopback: d.local.allowNonLoopback }),
        ...(token !== undefined && { token }),
        logger,
      },
    );
  }

  /** Starts the local API, then connects in the background (the local API works offline). */
  async start(): Promise<void> {
    await this.local.listen();
    this.connect();
  }

  /** Stops accepting local requests, flushes what it can (bounded), and closes the connection and the store. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.broker.close();
    this.localFiles.close();
    this.approvals.close();
    await this.local.close();
    await this.client.close({ flush: true, timeoutMs: 5_000 });
    this.barrier.abort(new OutpostError(ErrorCode.Unavailable, "EMS stopping"));
    this.audit.close();
  }

  /** What `GET /status` and `outpost-ems status` show. */
  status(): Record<string, unknown> {
    const c = this.connection;
    const q = this.store.stats();
    return {
      version: EMS_VERSION,
      deviceId: this.options.config.data.device.id,
      uptimeS: Math.round((Date.now() - this.started) / 1000),
      connection: {
        state: c.type,
        ...("url" in c && { url: c.url }),
        ...(this.connectedSince !== undefined &&
          c.type === "connected" && { since: new Date(this.connectedSince).toISOString() }),
        ...(c.type === "disconnected" &&
          c.error && { error: { code: (c.error as OutpostError).code, message: c.error.message } }),
        ...(c.type === "disconnected" && c.retryInMs !== undefined && { retryInMs: c.retryInMs }),
      },
      queue: {
        items: this.client.queueSize,
        bytes: q.bytes,
        maxBytes: q.maxBytes,
        segments: q.segments,
        fsync: this.store.fsync,
        overflows: q.overflows + this.counters.overflows,
        refusedItems: q.overflowItems + this.counters.overflows,
        tornTails: q.tornTails,
        corruptRecords: q.corruptRecords,
      },
      things: [...this.things.keys()],
      files: {
        virtualDirs: Object.keys(this.options.config.data.files.virtualDirs ?? {}),
        running: this.localFiles.list().filter((t) => t.state === "running").length,
      },
      tunnels: {
        targets: Object.keys(this.options.config.data.tunnels.targets ?? {}),
        approval: this.options.config.data.tunnels.approval ?? "local",
        pending: this.approvals.list().length,
      },
      services: { waiting: this.broker.size, ...this.broker.counters, callbacks: this.callbacks.counters },
      local: {
        socket: this.options.config.data.local.socket ?? this.options.config.paths.socket,
        ...(this.local.tcpAddress && { tcp: this.local.tcpAddress }),
      },
    };
  }

  /** Prometheus text for `GET /metrics`. */
  metrics(): string {
    const q = this.store.stats();
    const m = (name: string, help: string, type: Metric["type"], value: number): Metric => ({
      name: `outpost_ems_${name}`,
      help,
      type,
      samples: [{ value }],
    });
    const byLabel = (name: string, help: string, label: string, values: Record<string, number>): Metric => ({
      name: `outpost_ems_${name}`,
      help,
      type: "counter",
      samples: Object.entries(values).map(([k, value]) => ({ labels: { [label]: k }, value })),
    });
    return renderMetrics([
      m("connected", "1 when the device connection is up", "gauge", this.connection.type === "connected" ? 1 : 0),
      m("connects_total", "Connections established", "counter", this.counters.connects),
      m("queue_items", "Values and events waiting for the server's acknowledgement", "gauge", this.client.queueSize),
      m("queue_bytes", "Bytes of durable queue segment files", "gauge", q.bytes),
      m("queue_max_bytes", "Bound of the durable queue", "gauge", q.maxBytes),
      m(
        "queue_overflows_total",
        "Writes refused because the queue was full",
        "counter",
        q.overflows + this.counters.overflows,
      ),
      m("queue_torn_tails_total", "Torn records dropped at open", "counter", q.tornTails),
      m("queue_corrupt_records_total", "Records failing their checksum at open", "counter", q.corruptRecords),
      m("property_sets_total", "Property values set through the local API", "counter", this.counters.propertySets),
      m("events_total", "Events emitted through the local API", "counter", this.counters.events),
      m("service_calls_total", "Service calls from the server", "counter", this.broker.counters.calls),
      m(
        "service_calls_expired_total",
        "Service calls no local process answered in time",
        "counter",
        this.broker.counters.expired,
      ),
      byLabel("service_callbacks_total", "Service calls made to local callback endpoints", "outcome", {
        answered: this.callbacks.counters.answered,
        failed: this.callbacks.counters.failed,
      }),
      byLabel("local_requests_total", "Local API answers by status class", "class", this.local.counters.requests),
      byLabel("local_refused_total", "Local API requests refused", "reason", this.local.counters.refused),
    ]);
  }

  private connect(): void {
    this.client.connect().catch((err: unknown) => {
      if (this.stopping) return;
      const final = isOutpostError(err) ? err.code : "error";
      const wait = this.options.retryFinalMs ?? 60_000;
      this.logger.error("cannot connect; trying again later", { error: err as Error, code: final, retryInMs: wait });
      this.retryTimer = setTimeout(() => this.connect(), wait);
      this.retryTimer.unref?.();
    });
  }

  private onStatus(s: ConnectionStatus): void {
    const was = this.connection.type;
    this.connection = s;
    if (s.type === "connecting") this.lastUrl = s.url;
    if (s.type === "connected") {
      this.counters.connects += 1;
      this.connectedSince = Date.now();
      this.record({ type: "login.success", target: s.url, details: { sessionId: s.sessionId, deviceId: s.deviceId } });
    } else if (s.type === "disconnected" && s.error && isLoginFailure(s.error)) {
      const code = (s.error as OutpostError).code;
      this.record({ type: "login.failure", target: this.lastUrl, code, details: { message: s.error.message } });
    }
    if (s.type === "disconnected" && was === "connected") {
      this.logger.warn("disconnected", {
        ...(s.error && { error: s.error }),
        ...(s.retryInMs !== undefined && { retryInMs: s.retryInMs }),
      });
    }
  }

  private fileOptions(): Pick<EdgeClientOptions, "files"> {
    const f = this.options.config.data.files;
    if (!f.virtualDirs || Object.keys(f.virtualDirs).length === 0) return {};
    return {
      files: {
        virtualDirs: f.virtualDirs,
        ...(f.maxFileBytes !== undefined && { maxFileBytes: f.maxFileBytes }),
        ...(f.maxBytesPerSecond !== undefined && { maxBytesPerSecond: f.maxBytesPerSecond }),
        audit: (e) => {
          this.logger.info(`file transfer ${e.event}`, { ...e });
          try {
            this.audit.append({
              type: "file.transfer",
              actor: e.initiator === "device" ? `device:${this.options.config.data.device.id ?? "?"}` : "server",
              target: `file:${e.path}`,
              outcome: e.event === "failed" || e.event === "cancelled" ? "failure" : "success",
              ...(e.error && { code: e.error.code }),
              details: { ...e },
            });
          } catch (err) {
            this.logger.error("device audit log: a record could not be written", {
              error: err as Error,
              type: "file.transfer",
            });
          }
        },
      },
    };
  }

  private tunnelOptions(): Pick<EdgeClientOptions, "tunnels"> {
    const t = this.options.config.data.tunnels;
    if (!t.targets || Object.keys(t.targets).length === 0) return {};
    return {
      tunnels: {
        targets: t.targets,
        ...((t.approval ?? "local") === "local" && { approve: this.approvals.approve }),
        ...(t.approvalTimeoutMs !== undefined && { approvalTimeoutMs: t.approvalTimeoutMs }),
        ...(t.maxSessions !== undefined && { limits: { maxSessions: t.maxSessions } }),
        audit: (r) => this.auditTunnel(r),
      },
    };
  }

  private auditTunnel(r: TunnelAuditRecord): void {
    const ok = r.type === "tunnel.start" || (r.type === "tunnel.end" && r.reason === "closed");
    this.logger.info(r.type, { ...r });
    try {
      this.audit.append({
        type: "tunnel.session",
        actor: r.initiator,
        target: `tunnel:${r.target}`,
        outcome: ok ? "success" : "failure",
        ...(r.reason !== undefined && !ok && { code: r.reason }),
        details: { ...r },
      });
    } catch (err) {
      this.logger.error("device audit log: a record could not be written", { error: err as Error, type: r.type });
    }
  }

  private record(event: Omit<AuditEvent, "actor" | "outcome">): void {
    const outcome = event.type.endsWith(".failure") ? "failure" : "success";
    try {
      this.audit.append({
        ...event,
        actor: `device:${this.options.config.data.device.id ?? "?"}`,
        outcome,
      } as AuditEvent);
    } catch (err) {
      this.logger.error("device audit log: a record could not be written", { error: err as Error, type: event.type });
    }
  }
}

/** Failures of the authentication steps (TLS identity, application key), not of the network. */
function isLoginFailure(err: Error): boolean {
  return (
    isOutpostError(err, ErrorCode.Unauthorized) ||
    isOutpostError(err, ErrorCode.Forbidden) ||
    isOutpostError(err, ErrorCode.Tls)
  );
}
