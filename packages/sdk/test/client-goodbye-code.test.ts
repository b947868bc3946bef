import {
  Channel,
  ErrorCode,
  GoodbyeReason,
  isOutpostError,
  createMemoryTransportPair as memoryPair,
  negotiateVersion,
  ProtocolError,
  Status,
} from "@outpost/protocol";
import { afterEach, describe, expect, it } from "vitest";
import type { EdgeClient } from "../src/client.js";
import type { TransportFactory } from "../src/options.js";
import { clientFor } from "./helpers/client.js";
import { FakeServer, until } from "./helpers/fake-server.js";

let client: EdgeClient | undefined;
afterEach(async () => {
  await client?.close({ flush: false });
  client = undefined;
});

/**
 * A server that answers Hello the way the reference server does (edge/session.ts): with no common
 * version, Goodbye{PROTOCOL_ERROR, code} and close; otherwise an AuthResult refused with `auth`.
 */
function scriptedServer(options: { versions?: [number, number]; auth?: { status: number; code: string } }): {
  factory: TransportFactory;
  attempts: () => number;
} {
  let attempts = 0;
  const factory: TransportFactory = async () => {
    attempts++;
    const [device, server] = memoryPair();
    const ch = new Channel(server);
    void (async () => {
      for await (const env of ch.messages) {
        if (env.body === "hello") {
          try {
            const [min, max] = options.versions ?? [1, 2];
            const version = negotiateVersion(env.hello!.minVersion ?? 0, env.hello!.maxVersion ?? 0, min, max);
            ch.send({ requestId: env.requestId, helloAck: { version } });
          } catch (err) {
            const e = err as ProtocolError;
            ch.send({ goodbye: { reason: GoodbyeReason.PROTOCOL_ERROR, message: e.message, code: e.code } });
            await ch.close();
          }
        } else if (env.body === "auth" && options.auth) {
          const { status, code } = options.auth;
          ch.send({ requestId: env.requestId, authResult: { status, code, message: "refused" } });
          const reason =
            status === Status.TooManyRequests ? GoodbyeReason.GOODBYE_UNSPECIFIED : GoodbyeReason.AUTH_REVOKED;
          ch.send({ goodbye: { reason, message: "refused", code, reconnectAfterMs: 1 } });
          await ch.close();
        }
      }
    })();
    return device;
  };
  return { factory, attempts: () => attempts };
}

/** Lets a few reconnect delays (5..20 ms in clientFor) pass, to see whether more attempts follow. */
const pause = (): Promise<void> => new Promise((r) => setTimeout(r, 100));

describe("EdgeClient and the Goodbye code", () => {
  it("reconnect - no common protocol version stops after one attempt with OUTPOST_UNSUPPORTED_VERSION", async () => {
    const server = scriptedServer({ versions: [7, 9] });
    client = clientFor(new FakeServer(), { transportFactory: server.factory });
    // Bounded either way: the attempt fails for good, or the client is seen retrying.
    const err = await Promise.race([
      client.connect().catch((e: unknown) => e),
      until(() => server.attempts() >= 3).then(() => "retried"),
    ]);
    expect(server.attempts()).toBe(1);
    expect(isOutpostError(err, ErrorCode.UnsupportedVersion)).toBe(true);
    const s = client.status;
    expect(s.type).toBe("disconnected");
    expect(s.type === "disconnected" && s.error).toMatchObject({ code: ErrorCode.UnsupportedVersion });
    expect(s.type === "disconnected" && s.retryInMs).toBeUndefined();
    await pause();
    expect(server.attempts()).toBe(1);
  });

  it("reconnect - an auth refusal with a non-retryable code (401 revoked key) stops after one attempt", async () => {
    const server = scriptedServer({ auth: { status: 401, code: ErrorCode.Unauthorized } });
    client = clientFor(new FakeServer(), { transportFactory: server.factory });
    const err = await client.connect().catch((e: unknown) => e);
    expect(isOutpostError(err, ErrorCode.Unauthorized)).toBe(true);
    await pause();
    expect(server.attempts()).toBe(1);
  });

  it("reconnect - a retryable code (429 rate-limited auth) is retried, with the typed error in the status", async () => {
    const server = scriptedServer({ auth: { status: 429, code: ErrorCode.TooManyRequests } });
    client = clientFor(new FakeServer(), { transportFactory: server.factory });
    const statuses: unknown[] = [];
    client.on("status", (s) => statuses.push(s));
    void client.connect().catch(() => undefined);
    await until(() => server.attempts() >= 3);
    expect(statuses).toContainEqual(
      expect.objectContaining({
        type: "disconnected",
        error: expect.objectContaining({ code: ErrorCode.TooManyRequests }),
      }),
    );
  });
});
