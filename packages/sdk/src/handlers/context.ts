import type { Channel, Goodbye, OutpostError } from "@outpost/protocol";
import type { Logger } from "../logger.js";
import type { Thing } from "../things/thing.js";

/** What every inbound-message handler may use: explicit, no reach into the client. */
export interface HandlerContext {
  readonly channel: Channel;
  readonly things: ReadonlyMap<string, Thing>;
  readonly logger: Logger;
  /** Aborted when this connection ends; service handlers get a signal derived from it. */
  readonly connectionSignal: AbortSignal;
  /** Reports a local failure to the application (the client's `error` event). */
  onError(error: OutpostError): void;
  /** Records the server's Goodbye for the reconnect policy. */
  onGoodbye(goodbye: Goodbye): void;
}
