import { ErrorCode, type JsonValue, OutpostError, type OutpostValue, Quality } from "@outpost/protocol";

/** Value type of a property, checked on `set()` and on writes from the server. */
export type PropertyType = "number" | "integer" | "boolean" | "string" | "json" | "bytes";

/** When a `set()` is queued for delivery to the server. */
export type PushPolicy = "on-change" | "always" | "never";

/** Options of {@link ThingHandle.property}. */
export interface PropertyOptions {
  /** Value type. Default: none (any value is accepted). */
  type?: PropertyType;
  /**
   * Push policy. Default "on-change": a value is queued when it differs from the last queued one
   * (numbers: by more than `deadband`). "always" queues every set; "never" only keeps the value
   * locally (the server can still read it).
   */
  push?: PushPolicy;
  /** For numeric values under "on-change": only changes strictly greater than this are pushed. Default 0. */
  deadband?: number;
  /** Whether the server may write this property. Default false (writes are refused with 403). */
  writable?: boolean;
  /**
   * Called for each accepted write from the server before the local value changes. Throw or reject
   * to refuse the write: the error's status goes back for that item (an OutpostError keeps its status,
   * anything else is 500). Default: accept.
   */
  onWrite?: (value: OutpostValue) => void | Promise<void>;
  /** Initial local value; not pushed by itself, but part of the re-sync after each (re)connect. Default: unset. */
  initial?: OutpostValue;
}

/** What {@link Property.snapshot} captures. */
export interface PropertySnapshot {
  readonly value: OutpostValue | undefined;
  readonly timestampMs: number;
  readonly quality: Quality;
  readonly lastPushed: OutpostValue | undefined;
  readonly hasPushed: boolean;
}

/** A declared property: its options and local state. */
export class Property {
  readonly type: PropertyType | undefined;
  readonly push: PushPolicy;
  readonly deadband: number;
  readonly writable: boolean;
  readonly onWrite: ((value: OutpostValue) => void | Promise<void>) | undefined;
  /** The declared initial value, kept to compare re-declarations. */
  private readonly initial: OutpostValue | undefined;
  value: OutpostValue | undefined;
  timestampMs = 0;
  /** Quality of the current value, sent with it in re-syncs and reads. */
  quality: Quality = Quality.GOOD;
  private lastPushed: OutpostValue | undefined;
  private hasPushed = false;

  constructor(
    readonly thing: string,
    readonly name: string,
    options: PropertyOptions = {},
  ) {
    this.type = options.type;
    this.push = options.push ?? "on-change";
    this.deadband = options.deadband ?? 0;
    if (!(this.deadband >= 0 && Number.isFinite(this.deadband))) {
      throw new OutpostError(
        ErrorCode.InvalidConfig,
        `property ${thing}.${name}: deadband must be a finite number >= 0`,
      );
    }
    this.writable = options.writable ?? false;
    this.onWrite = options.onWrite;
    this.initial = options.initial;
    if (options.initial !== undefined) {
      this.check(options.initial);
      this.value = options.initial;
      this.timestampMs = Date.now();
    }
  }

  /** The first option given in `options` that differs from this property's, or undefined. */
  differingOption(options: PropertyOptions): keyof PropertyOptions | undefined {
    const mine: { [K in keyof PropertyOptions]-?: PropertyOptions[K] | undefined } = {
      type: this.type,
      push: this.push,
      deadband: this.deadband,
      writable: this.writable,
      onWrite: this.onWrite,
      initial: this.initial,
    };
    for (const key of Object.keys(options) as (keyof PropertyOptions)[]) {
      if (options[key] === undefined) continue;
      const same = key === "initial" ? sameValue(options.initial, this.initial) : options[key] === mine[key];
      if (!same) return key;
    }
    return undefined;
  }

  /** Throws OUTPOST_BAD_REQUEST when `value` does not match the declared type. */
  check(value: OutpostValue): void {
    if (!matchesType(value, this.type)) {
      throw new OutpostError(
        ErrorCode.BadRequest,
        `property ${this.thing}.${this.name} expects ${this.type}, got ${describe(value)}`,
        { status: 400 },
      );
    }
  }

  /** Records a new local value; returns true when the push policy says it must be queued. */
  update(value: OutpostValue, timestampMs: number, quality: Quality = Quality.GOOD): boolean {
    this.value = value;
    this.timestampMs = timestampMs;
    this.quality = quality;
    if (this.push === "never") return false;
    if (this.push === "on-change" && this.hasPushed && !this.differs(value)) return false;
    this.lastPushed = value;
    this.hasPushed = true;
    return true;
  }

  /** The state `update()` changes, for {@link Property.restore} when queueing the value failed. */
  snapshot(): PropertySnapshot {
    return {
      value: this.value,
      timestampMs: this.timestampMs,
      quality: this.quality,
      lastPushed: this.lastPushed,
      hasPushed: this.hasPushed,
    };
  }

  /** Undoes `update()`: all of it, or with `pushOnly` just its record of what was queued. */
  restore(s: PropertySnapshot, pushOnly = false): void {
    if (!pushOnly) {
      this.value = s.value;
      this.timestampMs = s.timestampMs;
      this.quality = s.quality;
    }
    this.lastPushed = s.lastPushed;
    this.hasPushed = s.hasPushed;
  }

  /** Records that the current value reached the server outside the queue (re-sync). */
  markSynced(): void {
    this.lastPushed = this.value;
    this.hasPushed = this.value !== undefined;
  }

  private differs(value: OutpostValue): boolean {
    const last = this.lastPushed;
    if (typeof value === "number" && typeof last === "number") return Math.abs(value - last) > this.deadband;
    return !sameValue(value, last);
  }
}

function matchesType(value: OutpostValue, type: PropertyType | undefined): boolean {
  switch (type) {
    case undefined:
      return value !== undefined;
    case "number":
      return typeof value === "number" && Number.isFinite(value);
    case "integer":
      return (
        (typeof value === "number" && Number.isSafeInteger(value)) ||
        (typeof value === "bigint" &&
          value <= BigInt(Number.MAX_SAFE_INTEGER) &&
          value >= BigInt(Number.MIN_SAFE_INTEGER))
      );
    case "boolean":
      return typeof value === "boolean";
    case "string":
      return typeof value === "string";
    case "bytes":
      return value instanceof Uint8Array;
    case "json":
      return isJson(value, 0);
  }
}

function isJson(value: unknown, depth: number): value is JsonValue {
  if (depth > 64) return false;
  if (value === null || typeof value === "boolean" || typeof value === "string") return true;
  if (typeof value === "number") return Number.isFinite(value);
  if (Array.isArray(value)) return value.every((v) => isJson(v, depth + 1));
  if (
    typeof value === "object" &&
    !(value instanceof Uint8Array) &&
    Object.getPrototypeOf(value) === Object.prototype
  ) {
    return Object.values(value).every((v) => isJson(v, depth + 1));
  }
  return false;
}

function sameValue(a: OutpostValue | undefined, b: OutpostValue | undefined): boolean {
  if (a === b) return true;
  if (a instanceof Uint8Array && b instanceof Uint8Array) return Buffer.compare(a, b) === 0;
  if (typeof a === "object" && typeof b === "object" && a !== null && b !== null) {
    if (a instanceof Uint8Array || b instanceof Uint8Array) return false;
    return JSON.stringify(a) === JSON.stringify(b);
  }
  return false;
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (value instanceof Uint8Array) return "bytes";
  if (Array.isArray(value)) return "array";
  return typeof value;
}
