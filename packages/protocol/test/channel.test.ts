import { describe, expect, it } from "vitest";
import { Channel } from "../src/channel.js";
import { decodeFrame, encodeFrame } from "../src/codec.js";
import { ErrorCode, type OutpostError, RemoteError } from "../src/errors.js";
import { type Envelope, GoodbyeReason } from "../src/messages.js";
import { createMemoryTransportPair } from "../src/transport.js";
import { FakeClock } from "./helpers/fake-clock.js";
import { reader, settle } from "./helpers/raw.js";

function pair(clock = new FakeClock()) {
  const [ta, tb] = createMemoryTransportPair();
  const a = new Channel(ta, { clock });
  const b = new Channel(tb, { clock });
  return { a, b, clock };
}

/** A channel facing a raw transport the test drives by hand. */
function raw(options: ConstructorParameters<typeof Channel>[1] = {}) {
  const [ta, tb] = createMemoryTransportPair();
  const channel = new Channel(ta, { clock: new FakeClock(), ...options });
  return { channel, peer: tb, frames: reader(tb) };
}

async function first(channel: Channel): Promise<Envelope> {
  for await (const m of channel.messages) return m;
  throw new Error("channel ended");
}

describe("channel", () => {
  it("channel - request resolves with the peer's response", async () => {
    const { a, b } = pair();
    const reply = a.request({ propertyRead: { thing: "pump", names: ["rpm"] } });
    expect(a.pendingRequests).toBe(1);
    const req = await first(b);
    expect(req.body).toBe("propertyRead");
    expect(req.requestId).not.toBe(0);
    b.respond(req.requestId, { values: [{ thing: "pump", name: "rpm", value: { intValue: 1200 } }] });
    const env = await reply;
    expect(env.response?.status).toBe(200);
    expect(env.response?.values?.[0]?.value?.intValue).toBe(1200);
    expect(a.pendingRequests).toBe(0);
  });

  it("channel - non-2xx response rejects with the peer's code and status", async () => {
    const { a, b } = pair();
    const reply = a.request({ bind: { things: ["x"] } });
    const req = await first(b);
    b.respondError(req.requestId, new RemoteError(ErrorCode.Forbidden, "not yours", { status: 403 }));
    const err = (await reply.catch((e: unknown) => e)) as OutpostError;
    expect(err.code).toBe(ErrorCode.Forbidden);
    expect(err.status).toBe(403);
    expect(err.message).toBe("not yours");
  });

  it("channel - respondError hides the message of a non-Outpost error", async () => {
    const { a, b } = pair();
    const reply = a.request({ serviceInvoke: { thing: "t", service: "s" } });
    const req = await first(b);
    b.respondError(req.requestId, new Error("secret path /etc/key"));
    const err = (await reply.catch((e: unknown) => e)) as OutpostError;
    expect(err.code).toBe(ErrorCode.Internal);
    expect(err.status).toBe(500);
    expect(err.message).not.toContain("secret");
  });

  it("channel - failed AuthResult rejects the request", async () => {
    const { channel, peer, frames } = raw();
    const reply = channel.request({ auth: { appKey: "opk_x_y" } });
    const req = decodeFrame((await frames.next())!);
    peer.send(encodeFrame({ requestId: req.requestId, authResult: { status: 401, message: "bad key" } }));
    await expect(reply).rejects.toMatchObject({ code: ErrorCode.Unauthorized, status: 401 });
  });

  it("channel - helloAck reply resolves the hello request and clears inbound tracking", async () => {
    const { a, b } = pair();
    const reply = a.request({ hello: { minVersion: 1, maxVersion: 1 } });
    const hello = await first(b);
    b.send({ requestId: hello.requestId, helloAck: { version: 1 } });
    expect((await reply).helloAck?.version).toBe(1);
    expect((b as unknown as { inbound: Set<number> }).inbound.size).toBe(0);
  });

  it("channel - request times out and a late reply is dropped without closing", async () => {
    const { a, b, clock } = pair();
    const reply = a.request({ propertyRead: { thing: "t" } }, { timeoutMs: 1000 });
    const req = await first(b);
    clock.advance(1000);
    await expect(reply).rejects.toMatchObject({ code: ErrorCode.Timeout });
    b.respond(req.requestId, {});
    await settle();
    const again = a.request({ propertyRead: { thing: "t" } }, { timeoutMs: 0 });
    expect(a.pendingRequests).toBe(1);
    await a.close();
    await expect(again).rejects.toMatchObject({ code: ErrorCode.ConnectionClosed });
  });

  it("channel - abort signal rejects the request", async () => {
    const { a } = pair();
    const ac = new AbortController();
    const reply = a.request({ propertyRead: { thing: "t" } }, { signal: ac.signal });
    ac.abort();
    await expect(reply).rejects.toMatchObject({ code: ErrorCode.Aborted });
    expect(a.pendingRequests).toBe(0);
    await expect(a.request({ keepAlive: {} }, { signal: ac.signal })).rejects.toMatchObject({
      code: ErrorCode.Aborted,
    });
  });

  it("channel - close rejects pending requests with the cause and ends messages", async () => {
    const { a, b } = pair();
    const reply = a.request({ propertyRead: { thing: "t" } });
    const cause = new Error("shutting down");
    const iter = a.messages[Symbol.asyncIterator]();
    await a.close(cause);
    const err = (await reply.catch((e: unknown) => e)) as OutpostError;
    expect(err.code).toBe(ErrorCode.ConnectionClosed);
    expect(err.cause).toBe(cause);
    expect((await iter.next()).done).toBe(true);
    expect(await a.closed()).toBe(cause);
    expect(() => a.send({ keepAlive: {} })).toThrow(expect.objectContaining({ code: ErrorCode.ConnectionClosed }));
    await expect(a.request({ keepAlive: {} })).rejects.toMatchObject({ code: ErrorCode.ConnectionClosed });
    expect(await b.closed()).toBeUndefined();
    await a.close(); // idempotent
  });

  it("channel - malformed frame sends Goodbye PROTOCOL_ERROR and closes with a ProtocolError", async () => {
    const { channel, peer, frames } = raw();
    const reply = channel.request({ keepAlive: {} });
    await frames.next();
    peer.send(new Uint8Array([0xff, 0xff, 0xff]));
    const err = (await channel.closed()) as OutpostError;
    expect(err.code).toBe(ErrorCode.MalformedFrame);
    const bye = decodeFrame((await frames.next())!);
    expect(bye.goodbye?.reason).toBe(GoodbyeReason.PROTOCOL_ERROR);
    await expect(reply).rejects.toMatchObject({ code: ErrorCode.ConnectionClosed });
  });

  it("channel - frame over maxFrameBytes closes with OUTPOST_FRAME_TOO_LARGE", async () => {
    const { channel, peer } = raw({ limits: { maxFrameBytes: 1024 } });
    peer.send(encodeFrame({ event: { thing: "t", name: "x".repeat(2000) } }));
    expect(((await channel.closed()) as OutpostError).code).toBe(ErrorCode.FrameTooLarge);
  });

  it("channel - reply to a request never sent is a protocol violation", async () => {
    const { channel, peer } = raw();
    peer.send(encodeFrame({ requestId: 42, response: { status: 200 } }));
    expect(((await channel.closed()) as OutpostError).code).toBe(ErrorCode.UnexpectedFrame);
  });

  it("channel - response without a request id is a protocol violation", async () => {
    const { channel, peer } = raw();
    peer.send(encodeFrame({ response: { status: 200 } }));
    expect(((await channel.closed()) as OutpostError).code).toBe(ErrorCode.UnexpectedFrame);
  });

  it("channel - a reused inbound request id is a protocol violation", async () => {
    const { channel, peer } = raw();
    peer.send(encodeFrame({ requestId: 5, propertyRead: { thing: "t" } }));
    peer.send(encodeFrame({ requestId: 5, propertyRead: { thing: "t" } }));
    expect(((await channel.closed()) as OutpostError).code).toBe(ErrorCode.UnexpectedFrame);
  });

  it("channel - large message is split for the peer and reassembled", async () => {
    const { a, b } = pair();
    a.setPeerLimits({ maxFrameBytes: 1024, maxMessageBytes: 0 });
    const values = Array.from({ length: 200 }, (_, i) => ({
      thing: "t",
      name: `p${i}`,
      value: { stringValue: "v".repeat(50) },
    }));
    a.send({ requestId: 9, propertyUpdate: { values } });
    const got = await first(b);
    expect(got.requestId).toBe(9);
    expect(got.propertyUpdate?.values).toHaveLength(200);
    expect(got.propertyUpdate?.values?.[199]?.name).toBe("p199");
  });

  it("channel - split frames respect the peer's maxFrameBytes on the wire", async () => {
    const { channel, frames } = raw();
    channel.setPeerLimits({ maxFrameBytes: 1024 });
    channel.send({ event: { thing: "t", name: "e", data: { blob: { bytesValue: new Uint8Array(5000) } } } });
    const seen: Envelope[] = [];
    for (let i = 0; i < 6; i++) {
      const f = (await frames.next())!;
      expect(f.byteLength).toBeLessThanOrEqual(1024);
      seen.push(decodeFrame(f));
    }
    expect(seen.every((e) => e.body === "multipart")).toBe(true);
    expect(seen[5]?.multipart?.index).toBe(5);
    expect(seen[0]?.multipart?.count).toBe(6);
  });

  it("channel - message over the peer's maxMessageBytes is refused before sending", () => {
    const { channel } = raw();
    channel.setPeerLimits({ maxFrameBytes: 1024, maxMessageBytes: 2048 });
    expect(() => channel.send({ event: { thing: "t", name: "x".repeat(3000) } })).toThrow(
      expect.objectContaining({ code: ErrorCode.LimitExceeded }),
    );
  });

  it("channel - a request too large for the peer rejects without staying pending", async () => {
    const { channel } = raw();
    channel.setPeerLimits({ maxFrameBytes: 1024, maxMessageBytes: 2048 });
    await expect(channel.request({ event: { thing: "t", name: "x".repeat(3000) } })).rejects.toMatchObject({
      code: ErrorCode.LimitExceeded,
    });
    expect(channel.pendingRequests).toBe(0);
  });

  it("channel - setPeerLimits accepts wire limits with zeros as defaults and refuses nonsense", () => {
    const { channel } = raw();
    channel.setPeerLimits({ maxFrameBytes: 0, maxBatch: 5, maxStringBytes: null });
    expect(channel.peerLimits.maxFrameBytes).toBe(1024 * 1024);
    expect(channel.peerLimits.maxBatch).toBe(5);
    expect(() => channel.setPeerLimits({ maxFrameBytes: 10 })).toThrow(
      expect.objectContaining({ code: ErrorCode.LimitExceeded }),
    );
  });

  it("channel - inbound requests over maxConcurrentRequests get 429 from the channel", async () => {
    const [ta, tb] = createMemoryTransportPair();
    const a = new Channel(ta, { clock: new FakeClock() });
    const b = new Channel(tb, { clock: new FakeClock(), limits: { maxConcurrentRequests: 2 } });
    const r1 = a.request({ propertyRead: { thing: "1" } });
    const r2 = a.request({ propertyRead: { thing: "2" } });
    const r3 = a.request({ propertyRead: { thing: "3" } });
    await expect(r3).rejects.toMatchObject({ code: ErrorCode.TooManyRequests, status: 429 });
    const it = b.messages[Symbol.asyncIterator]();
    const m1 = (await it.next()).value as Envelope;
    const m2 = (await it.next()).value as Envelope;
    expect([m1.propertyRead?.thing, m2.propertyRead?.thing]).toEqual(["1", "2"]);
    b.respond(m1.requestId, {});
    await r1;
    const r4 = a.request({ propertyRead: { thing: "4" } });
    const m4 = (await it.next()).value as Envelope;
    expect(m4.propertyRead?.thing).toBe("4");
    b.respond(m2.requestId, {});
    b.respond(m4.requestId, {});
    await Promise.all([r2, r4]);
  });

  it("channel - our own requests over the peer's maxConcurrentRequests are refused locally", async () => {
    const { channel, frames } = raw();
    channel.setPeerLimits({ maxConcurrentRequests: 1 });
    void channel.request({ keepAlive: {} }).catch(() => undefined);
    await expect(channel.request({ keepAlive: {} })).rejects.toMatchObject({ code: ErrorCode.TooManyRequests });
    await frames.next();
    await channel.close();
  });

  it("channel - incomplete multipart set expires and closes the channel", async () => {
    const clock = new FakeClock();
    const { channel, peer } = raw({ clock, multipartExpiryMs: 500 });
    peer.send(
      encodeFrame({ multipart: { messageId: 1, index: 0, count: 2, totalBytes: 20, payload: new Uint8Array(10) } }),
    );
    await settle();
    clock.advance(500);
    expect(((await channel.closed()) as OutpostError).code).toBe(ErrorCode.MultipartExpired);
  });

  it("channel - nested multipart is invalid", async () => {
    const { channel, peer } = raw();
    const inner = encodeFrame({
      multipart: { messageId: 2, index: 0, count: 1, totalBytes: 1, payload: new Uint8Array(1) },
    });
    peer.send(
      encodeFrame({ multipart: { messageId: 1, index: 0, count: 1, totalBytes: inner.byteLength, payload: inner } }),
    );
    expect(((await channel.closed()) as OutpostError).code).toBe(ErrorCode.MultipartInvalid);
  });

  it("channel - peer closing the transport closes the channel cleanly", async () => {
    const { channel, peer } = raw();
    const reply = channel.request({ keepAlive: {} });
    await peer.close();
    expect(await channel.closed()).toBeUndefined();
    await expect(reply).rejects.toMatchObject({ code: ErrorCode.ConnectionClosed });
  });

  it("channel - unsolicited messages are delivered in order", async () => {
    const { a, b } = pair();
    a.send({ keepAlive: { timestampMs: 1 } });
    a.send({ event: { thing: "t", name: "e" } });
    a.send({ goodbye: { reason: GoodbyeReason.SHUTDOWN } });
    const kinds: string[] = [];
    for await (const m of b.messages) {
      kinds.push(m.body!);
      if (kinds.length === 3) break;
    }
    expect(kinds).toEqual(["keepAlive", "event", "goodbye"]);
  });
});
