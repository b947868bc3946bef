import pino from "pino";
import { describe, expect, it } from "vitest";
import { startRevocationWatch, type WatchedSession } from "../src/edge/revocation-watch.js";
import type { RevocationEntry, RevocationFeed } from "../src/registry/revocation-log.js";

const tick = () => new Promise((resolve) => setImmediate(resolve));

/** A feed over an in-memory log; `since` fails while `failing` is set; `mayHaveChanged` reports each append once. */
function feed() {
  const log: RevocationEntry[] = [];
  let changed = false;
  let reading = 0;
  const state = { failing: 0, maxConcurrentReads: 0 };
  const source: RevocationFeed = {
    cursor: async () => log.at(-1)?.seq ?? 0,
    mayHaveChanged: async () => {
      const c = changed;
      changed = false;
      return c;
    },
    since: async (cursor) => {
      reading++;
      state.maxConcurrentReads = Math.max(state.maxConcurrentReads, reading);
      await tick();
      reading--;
      if (state.failing > 0) {
        state.failing--;
        throw new Error("registry unreachable");
      }
      return log.filter((e) => e.seq > cursor);
    },
    subscribe: () => () => undefined,
    prune: async () => 0,
  };
  const append = (e: Omit<RevocationEntry, "seq">) => {
    log.push({ ...e, seq: log.length + 1 });
    changed = true;
  };
  return { source, append, state };
}

function session(deviceId: string, revalidated: string[]): WatchedSession {
  return {
    deviceId,
    keyId: `key-${deviceId}`,
    keyExpiresAt: null,
    revalidate: async () => (revalidated.push(deviceId), false),
  };
}

async function until(what: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !what(); i++) await new Promise((resolve) => setTimeout(resolve, 5));
}

describe("revocation watch over an asynchronous feed", () => {
  it("revocation watch - an entry whose read failed is applied at a later check, though the feed signals it only once", async () => {
    const f = feed();
    const revalidated: string[] = [];
    const stop = startRevocationWatch({
      source: f.source,
      sessions: () => [session("dev-1", revalidated), session("dev-2", revalidated)],
      intervalMs: 20,
      logger: pino({ level: "silent" }),
    });
    try {
      // Let the watch take its starting cursor first.
      await new Promise((resolve) => setTimeout(resolve, 30));
      f.state.failing = 1;
      f.append({ kind: "device", subject: "dev-2" });
      await until(() => revalidated.length > 0);
      expect(revalidated).toEqual(["dev-2"]);
      expect(f.state.failing).toBe(0);
    } finally {
      stop();
    }
  });

  it("revocation watch - checks never overlap: one read of the feed at a time", async () => {
    const f = feed();
    const revalidated: string[] = [];
    const stop = startRevocationWatch({
      source: f.source,
      sessions: () => [session("dev-1", revalidated)],
      intervalMs: 1,
      logger: pino({ level: "silent" }),
    });
    try {
      for (let i = 0; i < 20; i++) {
        f.append({ kind: "key", subject: "key-other" });
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      f.append({ kind: "device", subject: "dev-1" });
      await until(() => revalidated.length > 0);
      expect(revalidated).toEqual(["dev-1"]);
      expect(f.state.maxConcurrentReads).toBe(1);
    } finally {
      stop();
    }
  });
});
