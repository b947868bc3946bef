import { ErrorCode, OutpostError, type OutpostValue, Quality } from "@outpost/protocol";
import { Property, type PropertyOptions } from "./property.js";

/** Context given to a service handler. */
export interface ServiceContext {
  /** Aborted when the caller's deadline passes or the connection closes. */
  signal: AbortSignal;
  /** The Thing the service belongs to. */
  thing: string;
}

/** A service implementation. Throw an OutpostError to answer with its status; other errors become 500. */
export type ServiceHandler = (
  params: Record<string, OutpostValue>,
  ctx: ServiceContext,
) => Promise<OutpostValue> | OutpostValue;

/** Options of {@link ThingHandle.set}. */
export interface SetOptions {
  /** When the value was sampled, ms since the epoch. Default: now. */
  timestampMs?: number;
  /** Quality of the value. Default "good". */
  quality?: "good" | "bad" | "uncertain";
}

/** Options of {@link ThingHandle.emit}. */
export interface EmitOptions {
  /** When the event happened, ms since the epoch. Default: now. */
  timestampMs?: number;
}

/** A Thing this device represents: its properties, services and events. */
export interface ThingHandle {
  readonly name: string;
  /**
   * Declares (or returns the already declared) property. Declaring it again with options that
   * differ from the first declaration's throws OUTPOST_INVALID_CONFIG naming the option; options
   * left out are not compared.
   */
  property(name: string, options?: PropertyOptions): PropertyHandle;
  /**
   * Sets a property's local value and queues it for the server if its push policy says so.
   * An undeclared property is declared with default options. Throws OUTPOST_BAD_REQUEST on a type
   * mismatch and OUTPOST_QUEUE_OVERFLOW when the queue is full under the "reject" policy.
   */
  set(name: string, value: OutpostValue, options?: SetOptions): void;
  /** The local value, or undefined when never set. */
  get(name: string): OutpostValue | undefined;
  /** Registers (or replaces) the handler of a service the server may invoke. */
  service(name: string, handler: ServiceHandler): void;
  /** Queues an event; delivered at least once and acknowledged like property updates. */
  emit(event: string, data?: Record<string, OutpostValue>, options?: EmitOptions): void;
}

/** A declared property, bound to its Thing. */
export interface PropertyHandle {
  readonly thing: string;
  readonly name: string;
  /** Same as `thing.set(name, value, options)`. */
  set(value: OutpostValue, options?: SetOptions): void;
  /** Same as `thing.get(name)`. */
  get(): OutpostValue | undefined;
}

/** Where a Thing sends what must reach the server. */
export interface ThingSink {
  /** Returns false when the value was dropped on arrival (queue full, "drop-newest"); throws when refused. */
  queueProperty(property: Property, quality: Quality): boolean | void;
  queueEvent(thing: string, name: string, data: Record<string, OutpostValue>, timestampMs: number): void;
}

const QUALITY: Record<NonNullable<SetOptions["quality"]>, Quality> = {
  good: Quality.GOOD,
  bad: Quality.BAD,
  uncertain: Quality.UNCERTAIN,
};

/** The implementation of ThingHandle, also used by the handlers of server requests. */
export class Thing implements ThingHandle {
  readonly properties = new Map<string, Property>();
  readonly services = new Map<string, ServiceHandler>();

  constructor(
    readonly name: string,
    private readonly sink: ThingSink,
  ) {
    checkName("thing", name);
  }

  property(name: string, options?: PropertyOptions): PropertyHandle {
    let p = this.properties.get(name);
    if (!p) {
      checkName("property", name);
      p = new Property(this.name, name, options);
      this.properties.set(name, p);
    } else if (options) {
      const differs = p.differingOption(options);
      if (differs !== undefined) {
        throw new OutpostError(
          ErrorCode.InvalidConfig,
          `property ${this.name}.${name} is already declared with another ${differs}`,
        );
      }
    }
    return {
      thing: this.name,
      name,
      set: (value, setOptions) => this.set(name, value, setOptions),
      get: () => this.get(name),
    };
  }

  set(name: string, value: OutpostValue, options: SetOptions = {}): void {
    this.property(name);
    const p = this.properties.get(name)!;
    p.check(value);
    const before = p.snapshot();
    const quality = QUALITY[options.quality ?? "good"];
    if (!p.update(value, options.timestampMs ?? Date.now(), quality)) return;
    // A value that never entered the queue must not count as pushed, or on-change would suppress
    // the same value when it is set again and the server would never get it.
    let queued: boolean | void;
    try {
      queued = this.sink.queueProperty(p, quality);
    } catch (err) {
      p.restore(before);
      throw err;
    }
    if (queued === false) p.restore(before, true);
  }

  get(name: string): OutpostValue | undefined {
    return this.properties.get(name)?.value;
  }

  service(name: string, handler: ServiceHandler): void {
    checkName("service", name);
    if (typeof handler !== "function") {
      throw new OutpostError(ErrorCode.InvalidConfig, `service ${this.name}.${name}: handler must be a function`);
    }
    this.services.set(name, handler);
  }

  emit(event: string, data: Record<string, OutpostValue> = {}, options: EmitOptions = {}): void {
    checkName("event", event);
    this.sink.queueEvent(this.name, event, data, options.timestampMs ?? Date.now());
  }
}

function checkName(what: string, name: string): void {
  if (typeof name !== "string" || name.length === 0 || name.length > 256) {
    throw new OutpostError(ErrorCode.BadRequest, `${what} name must be a non-empty string of at most 256 characters`, {
      status: 400,
    });
  }
}
