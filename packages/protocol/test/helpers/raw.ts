import type { Transport } from "../../src/transport.js";

/** Reads frames from a raw transport one at a time. */
export function reader(transport: Transport): { next(): Promise<Uint8Array | undefined> } {
  const it = transport.frames[Symbol.asyncIterator]();
  return {
    async next() {
      const r = await it.next();
      return r.done ? undefined : r.value;
    },
  };
}

/** Lets queued microtasks and promise callbacks run. */
export async function settle(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((r) => setImmediate(r));
}
