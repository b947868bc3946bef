import type { AsyncRegistry, AsyncRegistryMethods, AsyncStores, RegistryTransaction } from "./async-types.js";
import type { RevocationFeed, RevocationSource } from "./revocation-log.js";
import type { SqliteRegistry } from "./sqlite.js";
import { STORE_METHODS, type SyncStores } from "./stores.js";
import type { SyncRegistry } from "./types.js";

/** Every method of the registry contract, so that a method added to it cannot be left out here. */
const METHODS: Record<keyof AsyncRegistryMethods, true> = {
  createDevice: true,
  getDevice: true,
  listDevices: true,
  countDevices: true,
  setDeviceDisabled: true,
  createKey: true,
  checkKey: true,
  revokeKey: true,
  getKey: true,
  listKeys: true,
  recordCertificate: true,
  revokeCertificates: true,
  listCertificates: true,
  certificateStatus: true,
  assignThing: true,
  getThing: true,
  thingTemplate: true,
  listThings: true,
  grant: true,
  revoke: true,
  can: true,
  visible: true,
  isAdministrator: true,
  restrict: true,
  unrestrict: true,
  createOperator: true,
  checkOperator: true,
  createOperatorToken: true,
  revokeOperatorToken: true,
  listOperators: true,
  setProperty: true,
  setProperties: true,
  getProperties: true,
  countProperties: true,
  hasProperty: true,
  setDesired: true,
  listDesired: true,
  deleteDesired: true,
  getDelivery: true,
  setDelivery: true,
  putTransfer: true,
  getTransfer: true,
  listTransfers: true,
};

type Work<T> = (tx: RegistryTransaction) => Promise<T> | T;

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === "function";
}

function settled<T>(run: () => T): Promise<T> {
  try {
    return Promise.resolve(run());
  } catch (err) {
    return Promise.reject(err);
  }
}

/**
 * Runs `work` between `enter` and `exit`/`undo` without yielding when `work` returns a plain value,
 * so a synchronous unit of work leaves no gap in which another write could join it.
 */
function around<T>(work: () => Promise<T> | T, exit: () => void, undo: () => void): Promise<T> {
  let result: Promise<T> | T;
  try {
    result = work();
  } catch (err) {
    undo();
    return Promise.reject(err);
  }
  if (!isThenable(result)) return settled(() => (exit(), result as T));
  return Promise.resolve(result).then(
    (value) => (exit(), value),
    (err: unknown) => {
      undo();
      throw err;
    },
  );
}

/**
 * The asynchronous registry over the embedded {@link SqliteRegistry}. Calls run at once on the one
 * connection while no transaction is open (the cached answers of `can`, `visible` and
 * `certificateStatus` stay synchronous inside); while one is open they wait in a queue, in the
 * order made. A transaction holds the queue from BEGIN to COMMIT, so no other write of this
 * registry interleaves with it, and is rolled back when its work throws.
 */
// The methods are built from METHODS in the constructor; the interface below declares them.
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export class AsyncSqliteRegistry implements AsyncRegistry {
  #held = false;
  readonly #waiters: (() => void)[] = [];
  readonly revocations: RevocationFeed;

  constructor(readonly sync: SqliteRegistry) {
    const call = <T>(run: () => T) => this.#call(run);
    Object.assign(this, methodsOver(sync, call), storesOver(sync, call));
    this.revocations = feedOver(sync.revocations, call);
  }

  transaction<T>(work: Work<T>): Promise<T> {
    if (this.#free()) return this.#begin(work);
    return this.#acquire().then(() => this.#begin(work, true));
  }

  async close(): Promise<void> {
    await this.#acquire();
    try {
      await this.sync.control.wal?.idle();
      this.sync.close();
    } finally {
      this.#release();
    }
  }

  #begin<T>(work: Work<T>, held = false): Promise<T> {
    if (!held) this.#held = true;
    const control = this.sync.control;
    let open = true;
    const end = () => {
      open = false;
      this.#release();
    };
    const tx = this.#handle(() => open);
    try {
      control.begin(true);
    } catch (err) {
      end();
      return Promise.reject(err);
    }
    // The commit did not sync the log (it would block the event loop for the fsync): the
    // transaction is not done, and nothing it wrote may be acknowledged, before the sync.
    const wal = control.wal;
    const committed = around(
      () => work(tx),
      () => {
        try {
          control.commit();
        } catch (err) {
          control.rollback();
          throw err;
        } finally {
          end();
        }
      },
      () => {
        try {
          control.rollback();
        } finally {
          end();
        }
      },
    );
    return wal ? committed.then(async (value) => (await wal.sync(), value)) : committed;
  }

  #handle(isOpen: () => boolean): RegistryTransaction {
    const inside = <T>(run: () => T): Promise<T> =>
      isOpen() ? settled(run) : Promise.reject(new Error("the registry transaction has ended"));
    const tx: RegistryTransaction = {
      ...methodsOver(this.sync, inside),
      ...storesOver(this.sync, inside),
      transaction: <T>(work: Work<T>): Promise<T> => {
        if (!isOpen()) return Promise.reject(new Error("the registry transaction has ended"));
        const control = this.sync.control;
        control.savepoint();
        return around(
          () => work(tx),
          () => control.release(),
          () => control.rollbackTo(),
        );
      },
    };
    return tx;
  }

  #free(): boolean {
    return !this.#held && this.#waiters.length === 0;
  }

  #call<T>(run: () => T): Promise<T> {
    if (this.#free()) return settled(run);
    return this.#acquire().then(() => {
      try {
        return run();
      } finally {
        this.#release();
      }
    });
  }

  #acquire(): Promise<void> {
    if (this.#free()) {
      this.#held = true;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  #release(): void {
    const next = this.#waiters.shift();
    if (next) next();
    else this.#held = false;
  }
}

// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export interface AsyncSqliteRegistry extends AsyncRegistryMethods, AsyncStores {}

/** The methods `names` of `target`, each run through `call`. */
function wrapped(target: object, names: readonly string[], call: <T>(run: () => T) => Promise<T>) {
  const methods: Record<string, unknown> = {};
  for (const name of names) {
    const method = (target as Record<string, (...args: unknown[]) => unknown>)[name]!;
    methods[name] = (...args: unknown[]) => call(() => method.apply(target, args));
  }
  return methods;
}

function methodsOver(registry: SyncRegistry, call: <T>(run: () => T) => Promise<T>): AsyncRegistryMethods {
  return wrapped(registry, Object.keys(METHODS), call) as unknown as AsyncRegistryMethods;
}

function storesOver(stores: SyncStores, call: <T>(run: () => T) => Promise<T>): AsyncStores {
  const out: Record<string, unknown> = {};
  for (const [storeName, names] of Object.entries(STORE_METHODS)) {
    out[storeName] = Object.freeze(wrapped(stores[storeName as keyof SyncStores], Object.keys(names), call));
  }
  return out as unknown as AsyncStores;
}

function feedOver(log: RevocationSource, call: <T>(run: () => T) => Promise<T>): RevocationFeed {
  return Object.freeze({
    cursor: () => call(() => log.cursor()),
    mayHaveChanged: () => call(() => log.mayHaveChanged()),
    since: (cursor: number, limit?: number) => call(() => log.since(cursor, limit)),
    prune: (beforeMs: number) => call(() => log.prune(beforeMs)),
    subscribe: (listener: () => void) => log.subscribe(listener),
  });
}

const views = new WeakMap<SyncRegistry, AsyncSqliteRegistry>();

/** The asynchronous view of `registry`: one per registry, so all its users share one queue. */
export function asyncRegistryOf(registry: SyncRegistry): AsyncSqliteRegistry {
  let view = views.get(registry);
  if (!view) {
    if (!("control" in registry)) throw new TypeError("the asynchronous view needs the SQLite registry");
    views.set(registry, (view = new AsyncSqliteRegistry(registry as SqliteRegistry)));
  }
  return view;
}
