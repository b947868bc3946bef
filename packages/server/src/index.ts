export { FileAuditLog, type FileAuditLogOptions } from "./audit/audit-log.js";
export { MemoryAuditLog, type MemoryAuditLogOptions } from "./audit/memory-audit-log.js";
export type { AuditHealth } from "./audit/guard.js";
export type { AuditEvent, AuditRecord, AuditSink, AuditType } from "./audit/types.js";
export { type AuditVerification, type VerifyAuditOptions, verifyAuditLog } from "./audit/verify.js";
export { type AuditAnchor, type AuditSigningKey, loadOrCreateAuditKey, readAnchor } from "./audit/checkpoint.js";
export { generateAppKey, parseAppKey } from "./auth/app-keys.js";
export { FailureLimiter, type FailureLimiterOptions } from "./auth/rate-limit.js";
export type { InitDataDirOptions, InitDataDirResult } from "./config/init.js";
export { initDataDir } from "./config/init.js";
export type { DataPaths } from "./config/layout.js";
export { dataPaths } from "./config/layout.js";
export type { DeviceManifest, OnboardDeviceOptions, OnboardDeviceResult } from "./config/onboard.js";
export { onboardDevice } from "./config/onboard.js";
export type { ServerConfig, ServerConfigFile } from "./config/server-config.js";
export { loadServerConfig } from "./config/server-config.js";
export type { EdgeServer, EdgeServerOptions } from "./edge/edge-server.js";
export type { DeviceLimitOptions } from "./edge/device-limits.js";
export type { LoggerOptions } from "./logging/logger.js";
export { createLogger, REDACT_PATHS } from "./logging/logger.js";
export type { OperatorApi, OperatorApiOptions } from "./operator-api/operator-server.js";
export type {
  CertificateAndKey,
  CertificateAuthority,
  CreateCertificateAuthorityOptions,
  DeviceCertificateOptions,
  ServerCertificateOptions,
  ValidityOptions,
} from "./pki/certificates.js";
export { createCertificateAuthority, issueDeviceCertificate, issueServerCertificate } from "./pki/certificates.js";
export type { DeviceCsrOptions, SignDeviceCsrOptions } from "./pki/csr.js";
export { createDeviceCsr, signDeviceCsr } from "./pki/csr.js";
export { type DeviceKeyType, isEcCsr, issueP256DeviceCertificate, signEcDeviceCsr } from "./pki/ec.js";
export type { CertificateIdentity } from "./pki/identity.js";
export { certificateIdentity } from "./pki/identity.js";
export { loadPrivateKey } from "./pki/keys.js";
export { TicketKeyFile, type TicketKeySource } from "./config/ticket-keys.js";
export type { DeliveryRecord } from "./registry/delivery.js";
export { SqliteRegistry, type SqliteRegistryOptions } from "./registry/sqlite.js";
export { AsyncSqliteRegistry, asyncRegistryOf } from "./registry/async-sqlite.js";
export type { AsyncRegistry, Registry, RegistryTransaction } from "./registry/async-types.js";
export type {
  AppKeyRecord,
  DeviceRecord,
  FileTransferRecord,
  KeyCheck,
  OperatorRecord,
  Permission,
  Principal,
  PropertyState,
  SyncRegistry,
  ThingRecord,
  TransferState,
} from "./registry/types.js";
export type {
  AuthRateLimitOptions,
  EdgeEndpointOptions,
  OperatorEndpointOptions,
  OutpostServer,
  ServerHealth,
  ServerOptions,
  ServerServiceCallContext,
} from "./server.js";
export { startServer } from "./server.js";
export type { FileRepository, RepositoryEntry } from "./files/repository.js";
export { checkRepositoryPath, DiskFileRepository } from "./files/repository.js";
export type { FileServiceOptions, TransferRequest } from "./files/transfers.js";
export { TransferManager } from "./files/transfers.js";
export type { StreamDevice, StreamHandler } from "./edge/session.js";
export type {
  ChangeFilter,
  ChangeListener,
  DesiredChange,
  DesiredOutcome,
  EventOccurrence,
  PropertyChange,
  ThingChange,
} from "./things/changes.js";
export type { DesiredReading } from "./things/desired.js";
export type {
  DeviceSummary,
  InvokeServiceOptions,
  PropertiesSnapshot,
  PropertyReading,
  ReadPropertiesOptions,
  ThingServiceOptions,
  ThingSummary,
  WritePropertyOptions,
  WriteResult,
} from "./things/thing-service.js";
export { ThingService } from "./things/thing-service.js";
