/**
 * The registry's records and the synchronous registry of the embedded SQLite engine: devices,
 * application keys, Things, permissions, operators and the latest property values. The server
 * and every other caller use the asynchronous contract over it, `Registry`
 * (registry/async-types.ts), which a networked database implements instead.
 */
import type { ThingTemplate } from "../templates/model.js";
import type { DeliveryRecord } from "./delivery.js";

/**
 * A run-time permission on a Thing, or (the device permissions, {@link DEVICE_PERMISSIONS}) on a
 * device: `tunnel.open`, `file.read` and `file.write` are granted on a device id, not a Thing name.
 * `file.read`: pull files from the device, list its vdirs, download its repository area;
 * `file.write`: push files to it, upload to its repository area.
 */
export type Permission =
  | "property.read"
  | "property.write"
  | "event.emit"
  | "event.subscribe"
  | "service.execute"
  | "tunnel.open"
  | "file.read"
  | "file.write";

/** The permissions a device holds by default on its own Things (event.subscribe is also decided on a Thing). */
export const PERMISSIONS: readonly Permission[] = ["property.read", "property.write", "event.emit", "service.execute"];

/** Permissions granted on a device id: only operators hold them, never by default. */
export const DEVICE_PERMISSIONS: readonly Permission[] = ["tunnel.open", "file.read", "file.write"];

/** Who acts: a device (by device id) or an operator (by operator name). */
export interface Principal {
  kind: "device" | "operator";
  id: string;
  /** Groups from an external directory (LDAP), mapped at login; treated like stored memberships. */
  groups?: string[];
}

export interface DeviceRecord {
  id: string;
  /** Free text for humans. */
  description: string;
  createdAt: number;
  /** A disabled device cannot authenticate. */
  disabled: boolean;
}

export interface AppKeyRecord {
  /** Public part of the key, used to find it; safe to log. */
  keyId: string;
  deviceId: string;
  label: string;
  createdAt: number;
  /** Milliseconds since epoch, or null for no expiry. */
  expiresAt: number | null;
  /** Milliseconds since epoch, or null when not revoked. */
  revokedAt: number | null;
  lastUsedAt: number | null;
}

/** Result of checking a presented application key. Never includes the secret or its hash. */
export type KeyCheck =
  | { ok: true; key: AppKeyRecord }
  | {
      ok: false;
      reason: "malformed" | "unknown" | "mismatch" | "revoked" | "expired" | "device-disabled";
      keyId?: string;
      /** The device the key id belongs to, when the id exists (whatever the secret). */
      deviceId?: string;
    };

/** A device certificate issued by the server's CA, as recorded at issuance. */
export interface CertificateRecord {
  /** Serial number, upper-case hex as node:crypto prints it. */
  serialNumber: string;
  deviceId: string;
  /** SHA-256 fingerprint, colon-separated upper-case hex. */
  fingerprint256: string;
  notAfter: number;
  issuedAt: number;
  /** Milliseconds since epoch, or null when not revoked. */
  revokedAt: number | null;
}

/**
 * Whether a presented device certificate may be used: "ok", or why not. A certificate whose serial
 * was never recorded is "ok" unless all of the device's certificates were revoked.
 */
export type CertificateStatus = "ok" | "revoked" | "device-disabled" | "unknown-device";

export interface ThingRecord {
  name: string;
  /** The device allowed to bind this Thing. */
  deviceId: string;
  description: string;
  /** The template the Thing was made from (docs/templates.md); absent for a Thing made from none. */
  template?: string;
}

export interface OperatorRecord {
  name: string;
  /** Admins have every permission on every Thing and may change the registry. */
  admin: boolean;
  createdAt: number;
}

export type OperatorCheck =
  { ok: true; operator: OperatorRecord } | { ok: false; reason: "malformed" | "unknown" | "mismatch" | "revoked" };

/** Latest known value of one property, as kept by the server. */
export interface PropertyState {
  thing: string;
  name: string;
  /** JSON-compatible value (bytes are base64 in `{ "$bytes": "..." }`, 64-bit ints as numbers). */
  value: unknown;
  timestampMs: number;
  quality: "good" | "bad" | "uncertain";
  receivedAt: number;
}

/**
 * A property write held for a Thing whose device was offline (desired state), applied when the
 * device next binds the Thing. One per property: a newer write replaces it.
 */
export interface DesiredProperty {
  thing: string;
  name: string;
  /** JSON-compatible value, as in {@link PropertyState}. */
  value: unknown;
  /** Operator name of the writer; the write is applied with this operator's permissions. */
  setBy: string;
  /** Milliseconds since epoch of the write. */
  setAt: number;
  /** Milliseconds since epoch after which it is no longer applied. */
  expiresAt: number;
  /** Order of writes across the registry: records are applied in ascending seq. Set by the registry. */
  seq: number;
}

/** Options for creating a key. */
export interface CreateKeyOptions {
  /** Lifetime in milliseconds; undefined means the key does not expire. */
  ttlMs?: number;
  /** Free-text label. Default "". */
  label?: string;
}

/** Queue epochs remembered per device (the most recently written ones). */
export const MAX_DELIVERY_EPOCHS = 16;

/** State of a file transfer (docs/files.md). */
export type TransferState = "queued" | "running" | "interrupted" | "completed" | "failed" | "cancelled";

/** A file transfer between the repository and a device, as the registry keeps it. */
export interface FileTransferRecord {
  id: string;
  deviceId: string;
  /** "push": repository to device; "pull": device to repository. */
  direction: "push" | "pull";
  /** Who started it: "operator:<name>" or "device:<id>". */
  initiator: string;
  /** Path in the device's area of the repository. */
  repositoryPath: string;
  /** `<vdir>/<path>` on the device. */
  devicePath: string;
  /** File size in bytes (a pull: 0 until the device told it). */
  size: number;
  state: TransferState;
  /** Bytes verified at the receiver. */
  bytesDone: number;
  /** Chunk bytes moved over all attempts (more than `size` when attempts re-sent chunks). */
  bytesMoved: number;
  attempts: number;
  chunkBytes: number;
  md5: string | null;
  sha256: string | null;
  /** Stable code and message of the last failure. */
  errorCode: string | null;
  error: string | null;
  /** A pull's source version seen by the attempt that staged bytes ("" when none). */
  sourceVersion: string;
  /** Bandwidth cap of this transfer in bytes/s; 0: none. */
  maxBytesPerSecond: number;
  createdAt: number;
  updatedAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  /** An interrupted transfer that has not resumed by then fails (OUTPOST_TIMEOUT). */
  expiresAt: number;
}

/**
 * The embedded registry's synchronous methods (registry/sqlite.ts). Not the contract: the
 * asynchronous `Registry` (registry/async-types.ts) answers each of these with a Promise.
 */
export interface SyncRegistry {
  createDevice(id: string, description?: string): DeviceRecord;
  getDevice(id: string): DeviceRecord | undefined;
  listDevices(): DeviceRecord[];
  /** How many devices are registered (disabled ones included). */
  countDevices(): number;
  setDeviceDisabled(id: string, disabled: boolean): void;

  /** Creates a key; the plaintext `key` is returned once and never stored. */
  createKey(deviceId: string, options?: CreateKeyOptions): { key: string; record: AppKeyRecord };
  /** Checks a presented key in constant time with respect to the secret. Updates lastUsedAt on success. */
  checkKey(presented: string, now?: number): KeyCheck;
  revokeKey(keyId: string): boolean;
  /** The key's record (never its secret or hash), or undefined when there is none. */
  getKey(keyId: string): AppKeyRecord | undefined;
  listKeys(deviceId: string): AppKeyRecord[];

  /** Records a certificate issued to an existing device. A serial recorded twice is a conflict. */
  recordCertificate(deviceId: string, cert: { serialNumber: string; fingerprint256: string; notAfter: Date }): void;
  /**
   * Revokes every certificate of a device: the recorded ones and any it holds that were never
   * recorded (issued before serials were recorded, or by `pki device`). Returns how many recorded
   * certificates were newly revoked. Certificates recorded afterwards are not affected.
   */
  revokeCertificates(deviceId: string): number;
  listCertificates(deviceId: string): CertificateRecord[];
  /**
   * Status of a certificate presented at the TLS handshake, by the device id in its subject and
   * its serial. Called for every handshake, so implementations answer from a cache that is
   * invalidated when the registry changes, also when another process (the CLI) changed it.
   * Throws when the registry cannot be read; the caller then refuses the handshake.
   */
  certificateStatus(deviceId: string, serialNumber: string): CertificateStatus;

  /** Assigns a Thing to a device (creating the Thing). A Thing belongs to exactly one device. */
  assignThing(name: string, deviceId: string, description?: string): ThingRecord;
  getThing(name: string): ThingRecord | undefined;
  /** The template `thing` was made from (docs/templates.md); undefined for none or no such Thing. */
  thingTemplate(thing: string): ThingTemplate | undefined;
  listThings(deviceId?: string): ThingRecord[];

  grant(principal: Principal, thing: string, permission: Permission): void;
  revoke(principal: Principal, thing: string, permission: Permission): void;
  /**
   * Whether `principal` holds `permission` on `thing` (for the device permissions: on device
   * `thing`), or on one `member` (property, service or event) of it, as the access model decides
   * (docs/access.md): the target must exist and be visible to the principal; a Deny that applies
   * beats every Allow. A device holds the run-time permissions on the Things assigned to it unless
   * restricted; members of Administrators hold all. Answered from a cache that every change, also
   * by another process, invalidates. Throws when the registry cannot be read.
   */
  can(principal: Principal, thing: string, permission: Permission, member?: string): boolean;
  /**
   * Whether the Thing or device `name` exists for `principal`: it exists and is visible to it
   * (docs/access.md, Organizations and visibility). An invisible entity must be answered exactly
   * like a nonexistent one.
   */
  visible(principal: Principal, kind: "thing" | "device", name: string): boolean;
  /** Whether `principal` is an operator in Administrators (stored, or a group of its login). */
  isAdministrator(principal: Principal): boolean;
  /** Removes a device's default permission on one of its own Things (least privilege). */
  restrict(deviceId: string, thing: string, permission: Permission): void;
  /** Gives a device back a default permission on one of its own Things that {@link restrict} removed. */
  unrestrict(deviceId: string, thing: string, permission: Permission): void;

  createOperator(name: string, admin: boolean): { token: string; record: OperatorRecord };
  checkOperator(token: string): OperatorCheck;
  /** Issues another bearer token for an existing operator; the plaintext `token` is returned once. */
  createOperatorToken(name: string): { token: string; tokenId: string };
  /** Revokes one operator token by its id; false when no such live token exists. */
  revokeOperatorToken(tokenId: string): boolean;
  listOperators(): OperatorRecord[];

  setProperty(state: PropertyState): void;
  /**
   * Writes several states at once, in order (a later state of a property replaces an earlier
   * one), all or none: when one cannot be written (a value JSON cannot hold is OUTPOST_BAD_REQUEST,
   * or storage fails) it throws and none of them is kept. Inside {@link transaction} they commit
   * with the rest of its work.
   */
  setProperties(states: readonly PropertyState[]): void;
  getProperties(thing: string): PropertyState[];
  /** How many properties the server keeps for `thing`. */
  countProperties(thing: string): number;
  /** Whether the server keeps a value of property `name` of `thing`. */
  hasProperty(thing: string, name: string): boolean;

  /**
   * Holds a desired value, replacing any held for the same property (last write wins), and
   * returns it with its new seq. Throws OUTPOST_BAD_REQUEST for a value JSON cannot hold; throws
   * when the registry cannot be written (nothing is then held).
   */
  setDesired(desired: Omit<DesiredProperty, "seq">): DesiredProperty;
  /** Desired values held for `thing` (every Thing when omitted), in the order they were written. */
  listDesired(thing?: string): DesiredProperty[];
  /**
   * Removes the desired value of a property; with `seq`, only if it is still that record (a newer
   * write is kept). Returns whether one was removed.
   */
  deleteDesired(thing: string, name: string, seq?: number): boolean;

  /**
   * What was applied of one device queue epoch (epoch 0: a device without "delivery-epoch"); an
   * empty record when none. See docs/protocol.md §8, Delivery.
   */
  getDelivery(deviceId: string, epoch: number): DeliveryRecord;
  /**
   * Stores an epoch's record. The registry keeps the {@link MAX_DELIVERY_EPOCHS} most recently
   * written epochs per device and forgets older ones (a device's queue epoch changes only when
   * its queue store is created anew). Throws OUTPOST_BAD_REQUEST for an epoch or seq that is not
   * a non-negative safe integer.
   */
  setDelivery(deviceId: string, epoch: number, record: DeliveryRecord): void;

  /**
   * Runs `work` atomically: all of its registry writes are applied, or none if it throws. A batch
   * of property values and the delivery record that covers them are written together, so a
   * crash cannot leave values applied without the record that marks them as delivered. A
   * transaction inside another is atomic on its own: when its work throws, only its writes are
   * undone; otherwise they commit with the outer one.
   */
  transaction<T>(work: () => T): T;

  /** Stores a file transfer (insert or replace by id). Throws when it cannot be written. */
  putTransfer(record: FileTransferRecord): void;
  getTransfer(id: string): FileTransferRecord | undefined;
  /** Transfers, oldest first; of one device when given; only unfinished ones with `active`. */
  listTransfers(filter?: { deviceId?: string; active?: boolean; limit?: number }): FileTransferRecord[];

  close(): void;
}
