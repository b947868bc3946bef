import {
  ErrorCode,
  errorFromStatus,
  fromWireValue,
  isOutpostError,
  isSuccess,
  OutpostError,
  type OutpostValue,
  toWireMap,
  toWireValue,
} from "@outpost/protocol";
import type { AuditSink } from "../audit/types.js";
import { checkWrite } from "../templates/model.js";
import { commitInGroup } from "../registry/commit-group.js";
import type { AsyncRegistry } from "../registry/async-types.js";
import { sqliteUnder } from "../registry/sqlite-under.js";
import type { DeviceRecord, Permission, Principal, SyncRegistry, ThingRecord } from "../registry/types.js";
import type { ChangeFilter, ChangeHub, ChangeListener } from "./changes.js";
import { checkDesiredTtl, DEFAULT_DESIRED_TTL_MS, type DesiredReading, DesiredState } from "./desired.js";
import type { DeviceLink, DeviceLinks } from "./device-links.js";
import { fromJsonValue, type QualityName, qualityName, toJsonValue } from "./values.js";

const auditedErrors = new WeakSet<object>();

/** True when `err` came from a {@link ThingService} call that already wrote it to the audit log. */
export function wasAudited(err: unknown): boolean {
  return err !== null && typeof err === "object" && auditedErrors.has(err);
}

/** Options for {@link ThingService}. */
export interface ThingServiceOptions {
  /** The registry's asynchronous view (`asyncRegistryOf(registry)` for the embedded SQLite one). */
  registry: AsyncRegistry;
  audit: AuditSink;
  links: DeviceLinks;
  hub: ChangeHub;
  /** Default timeout of a request to a device, in milliseconds. Default 30 000. */
  requestTimeoutMs?: number;
  /** How long a write to an offline device is held as desired state, unless the write says otherwise, in ms. Default 24 h. */
  desiredTtlMs?: number;
}

/** One property value. */
export interface PropertyReading {
  name: string;
  value: OutpostValue;
  /** Milliseconds since epoch when the device sampled the value (0 when unknown). */
  timestampMs: number;
  quality: QualityName;
}

/** Result of {@link ThingService.readProperties}. */
export interface PropertiesSnapshot {
  thing: string;
  /** True when read from the device just now; false when these are the last values the server kept. */
  live: boolean;
  /** Reported values. */
  properties: PropertyReading[];
  /** Desired values held for the device (written while it was offline), not yet applied nor expired. */
  desired: DesiredReading[];
}

/** Options for {@link ThingService.readProperties}. */
export interface ReadPropertiesOptions {
  /** Who reads; checked for property.read. Default: the server itself (no check). */
  by?: Principal;
  /** Device request timeout in ms. Default: the service's requestTimeoutMs. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Remote address of the caller, written to audit records. */
  source?: string;
}

/** Options for {@link ThingService.writeProperty}. */
export interface WritePropertyOptions {
  /**
   * When the Thing is offline the write is held as desired state for this long, in ms (1 ms to 30
   * days). Default: the service's desiredTtlMs (24 h).
   */
  expiresInMs?: number;
  /** Device request timeout in ms. Default: the service's requestTimeoutMs. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Remote address of the caller, written to audit records. */
  source?: string;
}

/** Options for {@link ThingService.invokeService}. */
export interface InvokeServiceOptions {
  /** How long to wait for the device's answer, in ms; also sent to the device as its deadline. Default: requestTimeoutMs. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Remote address of the caller, written to audit records. */
  source?: string;
}

/**
 * What {@link ThingService.writeProperty} did: `applied` (the device confirmed it) or `desired`
 * (the Thing was offline: the value is held and applied when the device binds the Thing again).
 */
export type WriteResult = { state: "applied" } | { state: "desired"; desired: DesiredReading };

/** A Thing with whether it is reachable now. */
export interface ThingSummary extends ThingRecord {
  /** True when its device is connected and has bound the Thing. */
  online: boolean;
}

/** A device with its connection state. */
export interface DeviceSummary extends DeviceRecord {
  connected: boolean;
  /** Remote address of the current connection. */
  source?: string;
  /** Milliseconds since epoch when the current connection authenticated. */
  connectedAt?: number;
}

/**
 * Reads, writes and invokes on Things, and subscribes to what devices report. The operator API is
 * a thin HTTP layer over this class; library users call it directly.
 */
export class ThingService {
  private readonly registry: AsyncRegistry;
  /** The SQLite registry under `registry`, if it is one: its cached decisions answer at once. */
  private readonly cached: Pick<SyncRegistry, "can"> | undefined;
  private readonly audit: AuditSink;
  private readonly links: DeviceLinks;
  private readonly hub: ChangeHub;
  private readonly requestTimeoutMs: number;
  private readonly desiredTtlMs: number;
  private readonly desiredState: DesiredState;

  constructor(options: ThingServiceOptions) {
    this.registry = options.registry;
    this.cached = sqliteUnder(options.registry);
    this.audit = options.audit;
    this.links = options.links;
    this.hub = options.hub;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
    this.desiredTtlMs = checkDesiredTtl(options.desiredTtlMs ?? DEFAULT_DESIRED_TTL_MS);
    this.desiredState = new DesiredState({
      registry: this.registry,
      audit: this.audit,
      hub: this.hub,
      isOnline: (record) => this.onlineLink(record) !== undefined,
      write: async (record, desired, value) => {
        const by: Principal = { kind: "operator", id: desired.setBy };
        await this.authorize(by, record.name, "property.write", undefined, [desired.name]);
        const target = `thing:${record.name}/property:${desired.name}`;
        await this.audited("property.write", by, target, undefined, () =>
          this.writeNow(record, desired.name, value, this.requireOnline(record), {}),
        );
      },
    });
  }

  /**
   * Applies the desired values held for `thing`, in write order, through the normal write path.
   * The edge calls it when a device binds the Thing; outcomes are published and audited.
   */
  async applyDesired(thing: string): Promise<void> {
    const record = await this.registry.getThing(thing);
    if (record) await this.desiredState.apply(record);
  }

  /** Reports and removes the desired values whose time ran out. The server calls it periodically. */
  expireDesired(): Promise<void> {
    return this.desiredState.expire();
  }

  /** Desired values held for `thing`, not yet applied nor expired, in write order. */
  async desired(thing: string, by?: Principal): Promise<DesiredReading[]> {
    await this.authorize(by, thing, "property.read", undefined);
    return this.readable(by, thing, await this.desiredState.pending(thing));
  }

  /**
   * Removes the desired value of property `name` held for `thing` (needs property.write).
   * Rejects with OUTPOST_NOT_FOUND when none is held.
   */
  async clearDesired(thing: string, name: string, by: Principal, options: { source?: string } = {}): Promise<void> {
    const record = await this.authorize(by, thing, "property.write", options.source, [name]);
    if (!(await this.desiredState.clear(record, name, by.id, options.source))) {
      throw new OutpostError(ErrorCode.NotFound, `no desired value of ${name} is held for ${thing}`, { status: 404 });
    }
  }

  /** Things that exist for `by` (visible to it) and on which it holds any permission (every Thing when `by` is omitted). */
  async listThings(by?: Principal): Promise<ThingSummary[]> {
    const all = await this.registry.listThings();
    const shown = by
      ? await Promise.all(
          all.map(async (t) => (await this.registry.visible(by, "thing", t.name)) && (await this.canSee(by, t.name))),
        )
      : undefined;
    return all.filter((_, i) => !shown || shown[i]).map((t) => ({ ...t, online: this.onlineLink(t) !== undefined }));
  }

  /** Every registered device with its connection state. */
  async listDevices(): Promise<DeviceSummary[]> {
    return (await this.registry.listDevices()).map((d) => {
      const link = this.links.get(d.id);
      return link
        ? { ...d, connected: true, source: link.source, connectedAt: link.connectedAt }
        : { ...d, connected: false };
    });
  }

  /** Whether `thing` is a registered Thing and, with `by`, visible to it (an invisible Thing does not exist for it). */
  async hasThing(thing: string, by?: Principal): Promise<boolean> {
    return (
      (await this.registry.getThing(thing)) !== undefined && (!by || (await this.registry.visible(by, "thing", thing)))
    );
  }

  /** Whether `by` holds any run-time permission on `thing` as a whole. */
  async canSee(by: Principal, thing: string): Promise<boolean> {
    const permissions = [
      "property.read",
      "property.write",
      "service.execute",
      "event.emit",
      "event.subscribe",
    ] as const;
    return (await Promise.all(permissions.map((p) => this.registry.can(by, thing, p)))).some(Boolean);
  }

  /** Whether `by` may follow the events of `thing`: event.subscribe. */
  canFollow(by: Principal, thing: string): Promise<boolean> {
    return this.registry.can(by, thing, "event.subscribe");
  }

  /**
   * Whether `by` may receive one change: a property value (or desired value) needs property.read
   * on that property, an event event.subscribe on that event (decided per member, so a Deny on
   * one property or event holds on the stream too). For the event stream's per-change filter:
   * the SQLite registry answers at once from its cached decisions, another registry with a Promise.
   */
  mayReceive(by: Principal, change: { thing: string; type: string; name: string }): boolean | Promise<boolean> {
    const permission = change.type === "event" ? "event.subscribe" : "property.read";
    return this.cached
      ? this.cached.can(by, change.thing, permission, change.name)
      : this.registry.can(by, change.thing, permission, change.name);
  }

  /** The entries of `list` whose property `by` may read (all of them without `by`), one wait for all. */
  private async readable<T extends { name: string }>(
    by: Principal | undefined,
    thing: string,
    list: T[],
  ): Promise<T[]> {
    if (!by || list.length === 0) return list;
    const allowed = await Promise.all(list.map((p) => this.registry.can(by, thing, "property.read", p.name)));
    return list.filter((_, i) => allowed[i]);
  }

  /** Whether `by` may read what `thing` reports (property values and events): property.read. */
  canRead(by: Principal, thing: string): Promise<boolean> {
    return this.registry.can(by, thing, "property.read");
  }

  /** The last values the server kept for `thing`, without asking the device. */
  async latest(thing: string): Promise<PropertyReading[]> {
    return (await this.registry.getProperties(thing)).map((p) => ({
      name: p.name,
      value: fromJsonValue(p.value),
      timestampMs: p.timestampMs,
      quality: p.quality,
    }));
  }

  /** Reads properties from the device when it is online, else returns the last kept values (`live: false`). */
  async readProperties(
    thing: string,
    names?: readonly string[],
    options: ReadPropertiesOptions = {},
  ): Promise<PropertiesSnapshot> {
    const by = options.by;
    const record = await this.authorize(by, thing, "property.read", options.source, names);
    // A read of the whole Thing leaves out the properties a Deny on one property hides.
    const wanted = names && names.length > 0 ? new Set(names) : undefined;
    const pick = <T extends { name: string }>(list: T[]) =>
      this.readable(
        by,
        thing,
        list.filter((p) => !wanted || wanted.has(p.name)),
      );
    const link = this.onlineLink(record);
    if (!link) {
      return {
        thing,
        live: false,
        properties: await pick(await this.latest(thing)),
        desired: await pick(await this.desiredState.pending(thing)),
      };
    }
    const reply = await link.request(
      { propertyRead: { thing, names: names ? [...names] : [] } },
      this.requestOptions(options),
    );
    const values = reply.response?.values ?? [];
    const properties = await this.readable(
      by,
      thing,
      values.map((v) => ({
        name: v.name ?? "",
        value: fromWireValue(v.value),
        timestampMs: Number(v.timestampMs ?? 0),
        quality: qualityName(v.quality),
      })),
    );
    return { thing, live: true, desired: await pick(await this.desiredState.pending(thing)), properties };
  }

  /**
   * Writes one property on the device. Rejects with the device's per-item error when it refuses.
   * Once the device confirms, the value becomes the server's last value of the property and is
   * published to subscribers like a value the device reported (the device does not echo it).
   *
   * When the Thing is offline (its device not connected, or connected without binding it) the
   * write is held as desired state instead (`{ state: "desired" }`): it replaces any value held for
   * the property and is applied when the device binds the Thing, unless it expires first.
   */
  async writeProperty(
    thing: string,
    name: string,
    value: OutpostValue,
    by: Principal,
    options: WritePropertyOptions = {},
  ): Promise<WriteResult> {
    const record = await this.authorize(by, thing, "property.write", options.source, [name]);
    checkWrite(await this.registry.thingTemplate(thing), thing, name, toJsonValue(value));
    const ttlMs = checkDesiredTtl(options.expiresInMs ?? this.desiredTtlMs);
    const link = this.onlineLink(record);
    if (!link) {
      const json = toJsonValue(value);
      return {
        state: "desired",
        desired: await this.desiredState.hold(record, name, json, by.id, ttlMs, options.source),
      };
    }
    const target = `thing:${thing}/property:${name}`;
    await this.audited("property.write", by, target, options.source, () =>
      this.writeNow(record, name, value, link, options),
    );
    await this.desiredState.superseded(thing, name);
    return { state: "applied" };
  }

  private async writeNow(
    record: ThingRecord,
    name: string,
    value: OutpostValue,
    link: DeviceLink,
    options: { timeoutMs?: number; signal?: AbortSignal },
  ): Promise<void> {
    const thing = record.name;
    const timestampMs = Date.now();
    const reply = await link.request(
      { propertyWrite: { values: [{ thing, name, value: toWireValue(value), timestampMs }] } },
      this.requestOptions(options),
    );
    const item = reply.response?.items?.[0];
    const status = item?.status ?? 200;
    if (!isSuccess(status)) throw errorFromStatus(status, item?.message || `device refused the write (${status})`);
    const receivedAt = Date.now();
    await commitInGroup(this.registry, (tx) =>
      tx.setProperty({ thing, name, value: toJsonValue(value), timestampMs, quality: "good", receivedAt }),
    );
    this.hub.publish({
      type: "property",
      deviceId: record.deviceId,
      thing,
      name,
      value,
      timestampMs,
      quality: "good",
    });
  }

  /** Invokes a service on the device and resolves with its result. */
  async invokeService(
    thing: string,
    service: string,
    params: Record<string, OutpostValue>,
    by: Principal,
    options: InvokeServiceOptions = {},
  ): Promise<OutpostValue> {
    const record = await this.authorize(by, thing, "service.execute", options.source, [service]);
    const target = `thing:${thing}/service:${service}`;
    return this.audited("service.invoke", by, target, options.source, async () => {
      const link = this.requireOnline(record);
      const timeoutMs = options.timeoutMs ?? this.requestTimeoutMs;
      const reply = await link.request(
        { serviceInvoke: { thing, service, params: toWireMap(params), timeoutMs } },
        this.requestOptions(options),
      );
      return fromWireValue(reply.response?.result);
    });
  }

  /** Calls `listener` for every accepted property change and event matching `filter`; returns the unsubscribe function. */
  subscribe(filter: ChangeFilter, listener: ChangeListener): () => void {
    return this.hub.subscribe(filter, listener);
  }

  private async authorize(
    by: Principal | undefined,
    thing: string,
    permission: Permission,
    source: string | undefined,
    members?: readonly string[],
  ): Promise<ThingRecord> {
    // One wait for the record, the visibility and every member's decision.
    const asks = members !== undefined && members.length > 0 ? members : [undefined];
    const [record, visible, decisions] = await Promise.all([
      this.registry.getThing(thing),
      by ? this.registry.visible(by, "thing", thing) : true,
      by ? Promise.all(asks.map((m) => this.registry.can(by, thing, permission, m))) : [],
    ]);
    // Visibility before any permission: an invisible Thing gets the answer of a nonexistent one.
    const exists = record !== undefined && visible;
    const allowed = !by || decisions.every(Boolean);
    const refusal = !exists
      ? new OutpostError(ErrorCode.NotFound, `unknown Thing ${thing}`, { status: 404 })
      : !allowed
        ? new OutpostError(ErrorCode.Forbidden, `${by.kind} ${by.id} lacks ${permission} on ${thing}`, { status: 403 })
        : undefined;
    if (!refusal) return record!;
    if (by) {
      this.audit.append({
        type: "denied",
        actor: `${by.kind}:${by.id}`,
        target: `thing:${thing}`,
        outcome: "failure",
        ...(source !== undefined ? { source } : {}),
        code: refusal.code,
        details: { permission },
      });
      auditedErrors.add(refusal);
    }
    throw refusal;
  }

  private onlineLink(record: ThingRecord): DeviceLink | undefined {
    const link = this.links.get(record.deviceId);
    return link?.isBound(record.name) ? link : undefined;
  }

  private requireOnline(record: ThingRecord): DeviceLink {
    const link = this.onlineLink(record);
    if (!link) throw new OutpostError(ErrorCode.Unavailable, `Thing ${record.name} is offline`, { status: 503 });
    return link;
  }

  private requestOptions(options: { timeoutMs?: number; signal?: AbortSignal }): {
    timeoutMs: number;
    signal?: AbortSignal;
  } {
    const out: { timeoutMs: number; signal?: AbortSignal } = { timeoutMs: options.timeoutMs ?? this.requestTimeoutMs };
    if (options.signal) out.signal = options.signal;
    return out;
  }

  private async audited<T>(
    type: "property.write" | "service.invoke",
    by: Principal,
    target: string,
    source: string | undefined,
    run: () => Promise<T>,
  ): Promise<T> {
    const actor = `${by.kind}:${by.id}`;
    const from = source !== undefined ? { source } : {};
    try {
      const result = await run();
      this.audit.append({ type, actor, target, outcome: "success", ...from });
      return result;
    } catch (err) {
      const code = isOutpostError(err) ? err.code : ErrorCode.Internal;
      this.audit.append({ type, actor, target, outcome: "failure", ...from, code });
      if (err !== null && typeof err === "object") auditedErrors.add(err);
      throw err;
    }
  }
}
