/**
 * A registry that is not the SQLite view, for tests: every call of the contract reaches the
 * asynchronous SQLite registry only after a turn of the event loop.
 */
import type { AsyncRegistry, Registry, RegistryTransaction } from "../src/registry/async-types.js";

/** Every call of the registry contract made through a {@link deferredRegistry}, by name ("credentials.check"). */
export const calls: string[] = [];

const later = () => new Promise<void>((resolve) => setImmediate(resolve));

/** The methods and stores of `inner` (own properties), each call answered only after a turn of the event loop. */
function deferred<T extends object>(inner: T, prefix = ""): T {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(inner)) {
    if (name === "sync" || name === "transaction") continue;
    // Registering a listener is synchronous in the contract (RevocationFeed.subscribe).
    if (name === "subscribe" && typeof value === "function") {
      out[name] = (value as (...a: unknown[]) => unknown).bind(inner);
      continue;
    }
    if (typeof value === "function") {
      out[name] = async (...args: unknown[]) => {
        calls.push(`${prefix}${name}`);
        await later();
        return (value as (...a: unknown[]) => unknown).apply(inner, args);
      };
    } else if (value !== null && typeof value === "object") {
      out[name] = deferred(value as object, `${prefix}${name}.`);
    }
  }
  return out as T;
}

/**
 * A registry that is not the SQLite view: a plain object whose every call (and every call on a
 * transaction's handle) reaches the asynchronous SQLite registry only after `setImmediate`, so a
 * caller that needs the SQLite class, or answers it expects at once, fails here.
 */
export function deferredRegistry(inner: AsyncRegistry): Registry {
  const handle = (tx: RegistryTransaction): RegistryTransaction => ({
    ...deferred(tx),
    transaction: async (work) => {
      await later();
      return tx.transaction((nested) => work(handle(nested)));
    },
  });
  return {
    ...deferred(inner),
    transaction: async (work) => {
      calls.push("transaction");
      await later();
      return inner.transaction((tx) => work(handle(tx)));
    },
    close: async () => {
      await later();
      return inner.close();
    },
  };
}
