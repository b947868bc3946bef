export type {
  AuditAnchor,
  AuditEvent,
  AuditLineSource,
  AuditRecord,
  AuditType,
  AuditVerification,
  VerifyAuditOptions,
} from "./audit-chain.js";
export {
  canonicalJson,
  checkpointMessage,
  checkpointSignatureValid,
  GENESIS_HASH,
  hashRecord,
  sealRecord,
  verifyAuditChain,
} from "./audit-chain.js";
export { AsyncQueue, type QueueConsumer } from "./async-queue.js";
export type { InboundFramesOptions, Pausable } from "./backpressure.js";
export { DrainWaiters, InboundFrames, OutboundBytes } from "./backpressure.js";
export type { ChannelOptions, EnableStreamsOptions, RequestOptions } from "./channel.js";
export { Channel } from "./channel.js";
export type { Clock } from "./clock.js";
export { MAX_TIMER_MS, systemClock } from "./clock.js";
export { httpDate, isoTime } from "./utc-time.js";
export { decodeFrame, encodeFrame, utf8Length } from "./codec.js";
export type { RegisterOptions } from "./correlation.js";
export { RequestTable } from "./correlation.js";
export type { OutpostErrorOptions } from "./errors.js";
export {
  AbortError,
  ConnectionClosedError,
  ErrorCode,
  isOutpostError,
  LimitError,
  OutpostError,
  ProtocolError,
  RemoteError,
  TimeoutError,
} from "./errors.js";
export type { ReceiveWindowOptions, StreamIdAllocatorOptions, StreamSide } from "./flow.js";
export { MAX_STREAM_ID, MAX_WINDOW_BYTES, ReceiveWindow, SendWindow, StreamIdAllocator, takeCredit } from "./flow.js";
export type { StreamFrameDecoderOptions } from "./framing.js";
export { encodeLengthPrefixed, LENGTH_PREFIX_BYTES, StreamFrameDecoder } from "./framing.js";
export type { ProtocolLimits } from "./limits.js";
export {
  ANNOUNCED_STREAM_WINDOWS,
  DEFAULT_LIMITS,
  MAX_CONNECTION_WINDOW_BYTES,
  MAX_STREAM_WINDOW_BYTES,
  MIN_FRAME_BYTES,
  negotiateLimits,
  resolveLimits,
  withAnnouncedWindows,
} from "./limits.js";
export type {
  Auth,
  AuthResult,
  Bind,
  BodyKind,
  Envelope,
  EnvelopeInit,
  EventBatch,
  EventMessage,
  Goodbye,
  Hello,
  HelloAck,
  ItemStatus,
  KeepAlive,
  Multipart,
  PropertyRead,
  PropertyUpdate,
  PropertyValue,
  PropertyWrite,
  Response,
  ServiceInvoke,
  StreamData,
  StreamOpen,
  StreamReset,
  StreamWindow,
  Unbind,
  WireLimits,
  WireValue,
  FileEntry,
  FileOpen,
} from "./messages.js";
export {
  BODY_KINDS,
  CAPABILITY_DELIVERY_EPOCH,
  CAPABILITY_EVENT_BATCH,
  CAPABILITY_MULTIPART,
  CAPABILITY_STREAMS,
  FileOp,
  GoodbyeReason,
  Quality,
  wire,
} from "./messages.js";
export type { MultipartAssemblerOptions } from "./multipart.js";
export { MAX_OPEN_MULTIPART_SETS, MULTIPART_OVERHEAD_BYTES, MultipartAssembler, splitMessage } from "./multipart.js";
export type { BulkSource, OutboxOptions } from "./outbox.js";
export type { KeyShare, SessionKeyInput, SessionKeys } from "./sealed.js";
export {
  createKeyShare,
  deriveSessionKeys,
  KEY_SHARE_BYTES,
  MAX_SEAL_COUNTER,
  open as openSealed,
  seal,
  sealParts,
  SEAL_TAG_BYTES,
} from "./sealed.js";
export {
  isSealedText,
  openText,
  SEALED_TEXT_PREFIX,
  SealedTextError,
  type SealedTextProblem,
  sealText,
} from "./sealed-text.js";
export type { ChunkCrypto, ChunkCryptoSession } from "./chunk-crypto.js";
export { CRYPTO_IN_FLIGHT_CHUNKS, inlineChunkCrypto } from "./chunk-crypto.js";
export type { ChunkWorkerPoolOptions } from "./chunk-workers.js";
export { ChunkWorkerPool, defaultChunkCrypto } from "./chunk-workers.js";
export type { FileStreamHandlers, GetOptions } from "./file-transfer.js";
export type {
  FileSink,
  FileSource,
  OpenerOptions,
  OpenFileStream,
  TransferHooks,
  TransferProgress,
  TransferResult,
} from "./file-transfer-types.js";
export { chunkAad, getFile, isRetryable, listFiles, putFile, serveFileStream } from "./file-transfer.js";
export {
  DEFAULT_CHUNK_BYTES,
  DEFAULT_WINDOW_CHUNKS,
  FILE_CANCEL_RESET_CODE,
  FILE_KEY_LABEL,
  FILE_STREAM_TYPE,
  FileTransferError,
  MAX_CHUNK_BYTES,
} from "./file-transfer-types.js";
export type { StreamHost, StreamWriteOptions } from "./stream.js";
export { Stream, StreamResetCode, StreamResetError } from "./stream.js";
export type { OpenStreamOptions, StreamMuxOptions } from "./stream-mux.js";
export { errorFromStatus, isSuccess, Status, statusForCode, statusFromError } from "./status.js";
export type { Transport } from "./transport.js";
export type { TunnelAccept, TunnelHeader, TunnelSessionInit, TunnelTranscript } from "./tunnel.js";
export {
  decodeTunnelAccept,
  decodeTunnelHeader,
  encodeTunnelAccept,
  encodeTunnelHeader,
  MAX_TUNNEL_RECORD_BYTES,
  TUNNEL_HOP_LIMITS,
  TUNNEL_KEY_LABEL,
  TUNNEL_STREAM_TYPE,
  tunnelConnectionKeys,
  tunnelErrorFromReset,
  TunnelRecords,
  TunnelResetCode,
  tunnelTranscript,
} from "./tunnel.js";
export type { TunnelVerifyInput } from "./tunnel-handshake.js";
export { signTunnelTranscript, verifyTunnelAccept } from "./tunnel-handshake.js";
export type { TunnelPipeOptions, TunnelPipeResult } from "./tunnel-pipe.js";
export { pipeTunnel } from "./tunnel-pipe.js";
export { createMemoryTransportPair } from "./transport.js";
export type { JsonValue, OutpostValue } from "./value.js";
export { fromWireMap, fromWireValue, toWireMap, toWireValue } from "./value.js";
export { MIN_PROTOCOL_VERSION, negotiateVersion, PROTOCOL_VERSION, versionName } from "./version.js";
