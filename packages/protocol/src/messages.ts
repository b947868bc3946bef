import { outpost } from "./generated/outpost.js";

/** Generated message classes of the wire schema (proto/outpost.proto). */
export const wire = outpost.v1;

/** A decoded frame. Exactly one body field is set and named by `body`. */
export type Envelope = outpost.v1.Envelope;
/** What may be passed to the encoder: plain objects shaped like the schema. */
export type EnvelopeInit = outpost.v1.Envelope.$Properties;
/** The name of the body field that is set, e.g. `"propertyUpdate"`. */
export type BodyKind = NonNullable<outpost.v1.Envelope["body"]>;

export type Hello = outpost.v1.Hello.$Properties;
export type HelloAck = outpost.v1.HelloAck.$Properties;
export type Auth = outpost.v1.Auth.$Properties;
export type AuthResult = outpost.v1.AuthResult.$Properties;
export type Bind = outpost.v1.Bind.$Properties;
export type Unbind = outpost.v1.Unbind.$Properties;
export type ItemStatus = outpost.v1.ItemStatus.$Properties;
export type Response = outpost.v1.Response.$Properties;
export type WireValue = outpost.v1.Value.$Properties;
export type PropertyValue = outpost.v1.PropertyValue.$Properties;
export type PropertyUpdate = outpost.v1.PropertyUpdate.$Properties;
export type PropertyRead = outpost.v1.PropertyRead.$Properties;
export type PropertyWrite = outpost.v1.PropertyWrite.$Properties;
export type ServiceInvoke = outpost.v1.ServiceInvoke.$Properties;
export type EventMessage = outpost.v1.Event.$Properties;
export type EventBatch = outpost.v1.EventBatch.$Properties;
export type KeepAlive = outpost.v1.KeepAlive.$Properties;
export type Goodbye = outpost.v1.Goodbye.$Properties;
export type Multipart = outpost.v1.Multipart.$Properties;
export type WireLimits = outpost.v1.Limits.$Properties;
export type StreamOpen = outpost.v1.StreamOpen.$Properties;
export type StreamData = outpost.v1.StreamData.$Properties;
export type StreamWindow = outpost.v1.StreamWindow.$Properties;
export type StreamReset = outpost.v1.StreamReset.$Properties;
export type FileOpen = outpost.v1.FileOpen.$Properties;
export type FileFrame = outpost.v1.FileFrame;
export type FileFrameInit = outpost.v1.FileFrame.$Properties;
export type FileEntry = outpost.v1.FileEntry.$Properties;
export const FileOp = outpost.v1.FileOp;

/** Property quality, as on the wire. */
export const Quality = outpost.v1.Quality;
export type Quality = outpost.v1.Quality;

/** Why a side said goodbye, as on the wire. */
export const GoodbyeReason = outpost.v1.GoodbyeReason;
export type GoodbyeReason = outpost.v1.GoodbyeReason;

/** Every body kind in schema order. */
export const BODY_KINDS: readonly BodyKind[] = [
  "hello",
  "helloAck",
  "auth",
  "authResult",
  "bind",
  "unbind",
  "response",
  "propertyUpdate",
  "propertyRead",
  "propertyWrite",
  "serviceInvoke",
  "event",
  "keepAlive",
  "goodbye",
  "multipart",
  "eventBatch",
  "streamOpen",
  "streamData",
  "streamWindow",
  "streamReset",
];

/**
 * Capability a server announces in `HelloAck.capabilities` when it accepts `EventBatch`. A device
 * sends event batches only to a server that announced it, and single `Event`s otherwise.
 */
export const CAPABILITY_EVENT_BATCH = "event-batch";

/**
 * Capability both sides announce (device in `Hello.capabilities`, server in
 * `HelloAck.capabilities`) to use streams: stream frames (bodies 26-29) travel only on a connection
 * where both announced it, so a peer without it keeps working without streams.
 */
export const CAPABILITY_STREAMS = "streams";

/**
 * Capability both sides announce (in `Hello` and `HelloAck`) from protocol 1.1 on: "I reassemble
 * Multipart sets (docs/protocol.md §6)". Reassembly is required of every implementation of every
 * version, so a sender never makes splitting depend on it (1.0 devices reassemble without
 * announcing it); it is there so that a peer's log says what it implements.
 */
export const CAPABILITY_MULTIPART = "multipart";

/**
 * Capability both sides announce when they identify queued items by (queue epoch, seq): the device
 * in `Hello.capabilities` together with `Hello.queue_epoch`, the server in `HelloAck.capabilities`,
 * answering with its delivery record in `AuthResult` (docs/protocol.md §8, Delivery).
 */
export const CAPABILITY_DELIVERY_EPOCH = "delivery-epoch";
