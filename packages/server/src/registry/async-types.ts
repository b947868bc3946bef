/**
 * The registry contract (docs/architecture.md, Registry): every method of the embedded
 * registry's {@link SyncRegistry} returns a Promise here, so that a networked database can
 * implement it; the embedded SQLite registry implements it in registry/async-sqlite.ts.
 */
import type { RevocationFeed } from "./revocation-log.js";
import type { SyncStores } from "./stores.js";
import type { SyncRegistry } from "./types.js";

type Promised<F> = F extends (...args: infer A) => infer R ? (...args: A) => Promise<Awaited<R>> : never;

/** A store whose every method answers with a Promise. */
export type AsyncStore<S> = { readonly [K in keyof S]: Promised<S[K]> };

/**
 * The registry's stores beside its core methods (registry/stores.ts), each method answering with
 * a Promise: the access model, templates, secret values, operator credentials, model writes.
 */
export type AsyncStores = { readonly [K in keyof SyncStores]: AsyncStore<SyncStores[K]> };

/** The registry methods of {@link SyncRegistry}, each answering with a Promise. */
export type AsyncRegistryMethods = {
  [K in keyof SyncRegistry as K extends "transaction" | "close" ? never : K]: Promised<SyncRegistry[K]>;
};

/**
 * The registry as seen inside a transaction: its writes are applied together with the rest of the
 * transaction's work, or not at all. Valid only until the transaction ends (a later call is
 * refused). Await each nested transaction before starting the next one.
 */
export interface RegistryTransaction extends AsyncRegistryMethods, AsyncStores {
  /**
   * A nested transaction: when `work` throws (or its Promise rejects) only its writes are undone
   * and the error is passed on; otherwise its writes commit with the enclosing transaction.
   */
  transaction<T>(work: (tx: RegistryTransaction) => Promise<T> | T): Promise<T>;
}

/**
 * The asynchronous registry. Calls are applied in the order they are made. A call made while a
 * transaction is open waits until it has ended and never sees its uncommitted writes.
 */
export interface AsyncRegistry extends AsyncRegistryMethods, AsyncStores {
  /**
   * Runs `work` atomically over a transaction handle: all of its writes are applied, or none when
   * it throws or its Promise rejects (the error is passed on). No other write of this registry is
   * applied between its first and its last write. A batch of property values and the delivery
   * record that covers them are written in one transaction, so a crash cannot leave values applied
   * without the record that marks them as delivered.
   */
  transaction<T>(work: (tx: RegistryTransaction) => Promise<T> | T): Promise<T>;
  /** Changes that may end live sessions (keys, devices, certificates revoked), in the order made. */
  readonly revocations: RevocationFeed;
  /** Waits for queued calls and open transactions, then closes the registry. */
  close(): Promise<void>;
}

/** The registry: devices, keys, Things, permissions, operators, latest values (asynchronous). */
export type Registry = AsyncRegistry;

/** Thing templates, and Things created from them or removed (asynchronous). */
export type AsyncTemplateStore = AsyncStores["templates"];
/** Which template properties are secret, and the data key their values are sealed with (asynchronous). */
export type AsyncSecretStore = AsyncStores["secrets"];
/** Operator passwords and login tokens (asynchronous). */
export type AsyncCredentialStore = AsyncStores["credentials"];
