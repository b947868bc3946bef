// Re-exported from @outpost/protocol so device code can throw and check typed errors without a second import.
export type {
  JsonValue,
  OpenStreamOptions,
  OutpostValue,
  Stream,
  StreamWriteOptions,
  Transport,
} from "@outpost/protocol";
export { ErrorCode, isOutpostError, OutpostError, StreamResetCode, StreamResetError } from "@outpost/protocol";
export type { EdgeClientEvents } from "./client.js";
export { EdgeClient } from "./client.js";
export type { ReconnectOptions } from "./connection/reconnect.js";
export type { SessionInfo } from "./connection/session.js";
export type { ConnectionStatus } from "./connection/status.js";
export type { PathRefusal } from "./files/errors.js";
export { FileTooLargeError, InsufficientSpaceError, PathRefusedError } from "./files/errors.js";
export { parseVdirPath } from "./files/paths.js";
export type { DeviceFilesHooks } from "./files/device-files.js";
export type { DeviceTransfer, DeviceTransferOptions } from "./files/device-transfers.js";
export { DeviceFiles } from "./files/device-files.js";
export type {
  DeviceAuditSink,
  DeviceFileAuditEvent,
  FilesOptions,
  OpenedFile,
  VdirEntry,
  WriteTarget,
} from "./files/vdirs.js";
export { VirtualDirs } from "./files/vdirs.js";
export type { Logger } from "./logger.js";
export { silentLogger, warnLogger } from "./logger.js";
export type {
  CloseOptions,
  ConnectOptions,
  EdgeClientOptions,
  FlushOptions,
  InvokeOptions,
  TransportFactory,
  TransportFactoryOptions,
} from "./options.js";
export { newQueueEpoch, queueItemBytes } from "./queue/epoch.js";
export type { FileQueueFsync, FileQueueProblem, FileQueueStats, FileQueueStoreOptions } from "./queue/file-store.js";
export { FileQueueStore } from "./queue/file-store.js";
export { MemoryQueueStore } from "./queue/memory-store.js";
export type { QueueFailure, QueueOptions } from "./queue/offline-queue.js";
export type {
  OverflowPolicy,
  QueuedEvent,
  QueuedProperty,
  QueueItem,
  QueueOverflowInfo,
  QueueReadLimits,
  QueueState,
  QueueStore,
} from "./queue/types.js";
export type { PropertyOptions, PropertyType, PushPolicy } from "./things/property.js";
export type {
  EmitOptions,
  PropertyHandle,
  ServiceContext,
  ServiceHandler,
  SetOptions,
  ThingHandle,
} from "./things/thing.js";
export type { ProxyOptions, ProxySetting } from "./transport/proxy.js";
export { matchesNoProxy } from "./transport/proxy.js";
export type { TlsOptions } from "./transport/tls.js";
export type {
  TunnelApprovalRequest,
  TunnelAuditRecord,
  TunnelAuditSink,
  TunnelEndReason,
  TunnelLimits,
  TunnelOptions,
} from "./tunnels/options.js";
export { spkiPin } from "./transport/tls.js";
export type { WebSocketTransportOptions } from "./transport/ws-transport.js";
export { connectWebSocket } from "./transport/ws-transport.js";
