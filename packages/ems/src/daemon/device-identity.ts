import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import {
  type ConnectionStatus,
  EdgeClient,
  type EdgeClientOptions,
  FileQueueStore,
  type Logger,
  type ThingHandle,
  type TunnelAuditRecord,
} from "@outpost/sdk";
import { type AuditEvent, ErrorCode, isOutpostError, isoTime, type OutpostError } from "@outpost/protocol";
import { DeviceAuditLog } from "../audit/device-audit.js";
import type { EmsConfig } from "../config/ems-config.js";
import type { IdentityView } from "../config/identity.js";
import { LocalFiles } from "../local/local-files.js";
import type { LocalThing } from "../local/routes.js";
import type { ServiceBroker } from "../local/service-broker.js";
import { clientOptionsFrom } from "./client-options.js";
import { DurableBarrier } from "./durable-barrier.js";
import { checkCallback, type ServiceCallbacks } from "./service-callback.js";
import { TunnelApprovals } from "./tunnel-approvals.js";

/** Options of {@link DeviceIdentity}. */
export interface DeviceIdentityOptions {
  config: EmsConfig;
  identity: IdentityView;
  /** The daemon's logger; this identity's lines carry `identity`. */
  logger: Logger;
  /** Shared by every identity: a call id names its Thing, and a Thing belongs to one identity. */
  broker: ServiceBroker;
  callbacks: ServiceCallbacks;
  /** Wait after a final connection error before trying again. Default 60_000 ms. */
  retryFinalMs?: number;
}

/**
 * One device identity of the daemon: its own connection (`EdgeClient`), durable queue directory,
 * audit log, Things, tunnel approvals and file transfers. A failure of one identity's connection,
 * queue or audit log never touches another's.
 */
export class DeviceIdentity {
  readonly name: string;
  readonly client: EdgeClient;
  readonly store: FileQueueStore;
  readonly approvals: TunnelApprovals;
  readonly files: LocalFiles;
  readonly things = new Map<string, LocalThing>();
  readonly counters = { propertySets: 0, events: 0, connects: 0, overflows: 0, clientErrors: 0 };
  private readonly barrier: DurableBarrier;
  private readonly audit: DeviceAuditLog;
  private readonly logger: Logger;
  private readonly view: IdentityView;
  private connection: ConnectionStatus = { type: "disconnected" };
  private connectedSince: number | undefined;
  private lastUrl = "";
  private stopping = false;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly options: DeviceIdentityOptions) {
    const { config, identity } = options;
    this.name = identity.name;
    this.view = identity;
    const logger = withFields(options.logger, { identity: identity.name });
    this.logger = logger;
    const q = config.data.queue;
    this.store = new FileQueueStore({
      dir: identity.queueDir,
      ...(q.maxBytes !== undefined && { maxBytes: q.maxBytes }),
      ...(q.segmentBytes !== undefined && { segmentBytes: q.segmentBytes }),
      ...(q.fsync !== undefined && { fsync: q.fsync }),
      ...(q.fsyncIntervalMs !== undefined && { fsyncIntervalMs: q.fsyncIntervalMs }),
      onProblem: (p) =>
        p.type === "overflow"
          ? logger.warn("durable queue full: values refused", p)
          : logger.warn(`durable queue: ${p.type} dropped at open`, p),
    });
    this.barrier = new DurableBarrier(this.store);
    mkdirSync(dirname(identity.audit), { recursive: true, mode: 0o700 });
    this.audit = new DeviceAuditLog(identity.audit, (droppedBytes) =>
      logger.warn("device audit log: a torn last record was removed", { droppedBytes }),
    );
    this.approvals = new TunnelApprovals(identity.name);
    this.client = new EdgeClient({
      ...clientOptionsFrom(config, identity),
      queue: { store: this.barrier, overflow: "reject", maxItems: 50_000_000 },
      ...this.tunnelOptions(),
      ...this.fileOptions(),
      logger,
    });
    this.files = new LocalFiles(this.client.files, identity.name);
    this.client.on("status", (s) => this.onStatus(s));
    this.client.on("error", (e) => {
      this.counters.clientErrors += 1;
      logger.warn(e.message, { code: e.code });
    });
    this.client.on("queue-overflow", (info) => {
      this.counters.overflows += 1;
      logger.warn("offline queue full: value refused", { ...info });
    });
    for (const t of identity.data.things) this.things.set(t.name, this.declare(t));
  }

  get deviceId(): string | undefined {
    return this.view.data.device.id;
  }

  /** Connects in the background; a final error (bad key, refused certificate) is retried after `retryFinalMs`. */
  connect(): void {
    this.client.connect().catch((err: unknown) => {
      if (this.stopping) return;
      const final = isOutpostError(err) ? err.code : "error";
      const wait = this.options.retryFinalMs ?? 60_000;
      this.logger.error("cannot connect; trying again later", { error: err as Error, code: final, retryInMs: wait });
      this.retryTimer = setTimeout(() => this.connect(), wait);
      this.retryTimer.unref?.();
    });
  }

  /** Denies waiting tunnels, cancels transfers, flushes what it can (bounded), closes the connection and the store. */
  async stop(abortWith: Error): Promise<void> {
    this.stopping = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.files.close();
    this.approvals.close();
    await this.client.close({ flush: true, timeoutMs: 5_000 });
    this.barrier.abort(abortWith);
    this.audit.close();
  }

  /** Connection, queue, Things, files and tunnels of this identity, for `GET /status`. */
  status(): Record<string, unknown> {
    const c = this.connection;
    const q = this.store.stats();
    const d = this.view.data;
    return {
      name: this.name,
      deviceId: this.deviceId,
      connection: {
        state: c.type,
        ...("url" in c && { url: c.url }),
        ...(this.connectedSince !== undefined && c.type === "connected" && { since: isoTime(this.connectedSince) }),
        ...(c.type === "disconnected" &&
          c.error && { error: { code: (c.error as OutpostError).code, message: c.error.message } }),
        ...(c.type === "disconnected" && c.retryInMs !== undefined && { retryInMs: c.retryInMs }),
      },
      queue: {
        dir: this.view.queueDir,
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
        virtualDirs: Object.keys(d.files.virtualDirs ?? {}),
        running: this.files.list().filter((t) => t.state === "running").length,
      },
      tunnels: {
        targets: Object.keys(d.tunnels.targets ?? {}),
        approval: d.tunnels.approval ?? "local",
        pending: this.approvals.list().length,
      },
    };
  }

  /** Values of the per-identity metrics (each sample gets the label `identity`). */
  samples(): Record<string, number> {
    const q = this.store.stats();
    return {
      connected: this.connection.type === "connected" ? 1 : 0,
      connects_total: this.counters.connects,
      queue_items: this.client.queueSize,
      queue_bytes: q.bytes,
      queue_max_bytes: q.maxBytes,
      queue_overflows_total: q.overflows + this.counters.overflows,
      queue_torn_tails_total: q.tornTails,
      queue_corrupt_records_total: q.corruptRecords,
      property_sets_total: this.counters.propertySets,
      events_total: this.counters.events,
    };
  }

  private declare(t: IdentityView["data"]["things"][number]): LocalThing {
    const handle: ThingHandle = this.client.thing(t.name);
    const names = new Set<string>();
    for (const p of t.properties ?? []) {
      handle.property(p.name, {
        ...(p.type !== undefined && { type: p.type }),
        ...(p.push !== undefined && { push: p.push }),
        ...(p.writable !== undefined && { writable: p.writable }),
      });
      names.add(p.name);
    }
    const { broker, callbacks } = this.options;
    for (const service of t.services ?? []) {
      if (typeof service === "string") {
        handle.service(service, (params, ctx) => broker.call(t.name, service, params, ctx.signal));
      } else {
        const url = checkCallback(t.name, service);
        handle.service(service.name, (params, ctx) => callbacks.call(service, url, t.name, params, ctx.signal));
      }
    }
    return {
      handle,
      propertyNames: () => [...names],
      remember: (name) => names.add(name),
      queueSize: () => this.client.queueSize,
      durable: () => this.barrier.afterNextAppend(),
      counters: this.counters,
    };
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
    const f = this.view.data.files;
    if (!f.virtualDirs || Object.keys(f.virtualDirs).length === 0) return {};
    return {
      files: {
        virtualDirs: f.virtualDirs,
        ...(f.maxFileBytes !== undefined && { maxFileBytes: f.maxFileBytes }),
        ...(f.maxBytesPerSecond !== undefined && { maxBytesPerSecond: f.maxBytesPerSecond }),
        audit: (e) => {
          this.logger.info(`file transfer ${e.event}`, { ...e });
          this.append(
            {
              type: "file.transfer",
              actor: e.initiator === "device" ? `device:${this.deviceId ?? "?"}` : "server",
              target: `file:${e.path}`,
              outcome: e.event === "failed" || e.event === "cancelled" ? "failure" : "success",
              ...(e.error && { code: e.error.code }),
              details: { ...e },
            },
            "file.transfer",
          );
        },
      },
    };
  }

  private tunnelOptions(): Pick<EdgeClientOptions, "tunnels"> {
    const t = this.view.data.tunnels;
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
    this.append(
      {
        type: "tunnel.session",
        actor: r.initiator,
        target: `tunnel:${r.target}`,
        outcome: ok ? "success" : "failure",
        ...(r.reason !== undefined && !ok && { code: r.reason }),
        details: { ...r },
      },
      r.type,
    );
  }

  private record(event: Omit<AuditEvent, "actor" | "outcome">): void {
    const outcome = event.type.endsWith(".failure") ? "failure" : "success";
    this.append({ ...event, actor: `device:${this.deviceId ?? "?"}`, outcome } as AuditEvent, event.type);
  }

  private append(event: AuditEvent, type: string): void {
    try {
      this.audit.append(event);
    } catch (err) {
      this.logger.error("device audit log: a record could not be written", { error: err as Error, type });
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

/** A logger adding `fields` to every line. */
function withFields(logger: Logger, fields: Record<string, unknown>): Logger {
  const wrap =
    (f: Logger["info"]) =>
    (msg: string, more?: Record<string, unknown>): void =>
      f.call(logger, msg, { ...fields, ...more });
  return { debug: wrap(logger.debug), info: wrap(logger.info), warn: wrap(logger.warn), error: wrap(logger.error) };
}
