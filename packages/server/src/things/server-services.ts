import type { OutpostValue } from "@outpost/protocol";

/** Who invoked a server-side service. */
export interface ServerServiceContext {
  /** The authenticated device that called. */
  deviceId: string;
  /** The Thing the call was made for. */
  thing: string;
}

/** A service the server offers to devices. Throw an OutpostError to answer with its status. */
export type ServerServiceHandler = (
  params: Record<string, OutpostValue>,
  ctx: ServerServiceContext,
) => Promise<OutpostValue> | OutpostValue;

/** Server-side services by Thing and name; "*" as the Thing offers a service to every Thing. */
export class ServerServices {
  private readonly handlers = new Map<string, ServerServiceHandler>();

  register(thing: string, name: string, handler: ServerServiceHandler): void {
    this.handlers.set(`${thing}\u0000${name}`, handler);
  }

  /** The handler for `name` on `thing`, preferring a Thing-specific one over "*". */
  find(thing: string, name: string): ServerServiceHandler | undefined {
    return this.handlers.get(`${thing}\u0000${name}`) ?? this.handlers.get(`*\u0000${name}`);
  }
}
