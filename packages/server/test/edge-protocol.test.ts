import {
  CAPABILITY_EVENT_BATCH,
  CAPABILITY_MULTIPART,
  encodeFrame,
  ErrorCode,
  GoodbyeReason,
  PROTOCOL_VERSION,
  Status,
} from "@outpost/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makePki, startTestServer, type TestPki, type TestServer } from "./edge-harness.js";
import { openRawDevice } from "./raw-device.js";

let pki: TestPki;
let ts: TestServer;

beforeAll(async () => {
  pki = makePki(["dev-1", "dev-2"]);
  ts = await startTestServer(pki);
});

afterAll(async () => {
  await ts?.close();
});

const rawDevice = (deviceId: string) => openRawDevice(ts.server.edgeUrl, pki.caPem, pki.devices[deviceId]!);

// A protocol 1.0 device session, frame by frame, as the 1.0 SDK (outpost-sdk/0.1.0) sent it:
// Hello{min 1, max 1, capabilities [event-batch], default limits}, request 1.
const HELLO_1_0 =
  "08015246080110011a0b6576656e742d6261746368221308808040108080800818e807208080042880022a1e6f7574706f73742d73646b2f302e312e30206e6f64652f32302e32302e32";
// Bind{things: [pump-1]}, request 3.
const BIND_1_0 = "080372080a0670756d702d31";
// PropertyUpdate{pump-1/speed = int 42, timestamp 2026-01-01, seq 1}, request 4.
const UPDATE_1_0 = "08048a011e0a1c0a0670756d702d31120573706565641a0210542080d0eab6b7333001";
// Event{pump-1/started, data {by: "test"}, seq 2}, request 5.
const EVENT_1_0 = "0805aa01280a0670756d702d311207737461727465641a0c0a02627912062204746573742081d0eab6b7332802";
// KeepAlive probe{timestamp}, no request id.
const KEEPALIVE_1_0 = "b201070882d0eab6b733";
// Goodbye{SHUTDOWN, "device shutting down"}.
const GOODBYE_1_0 = "ba011808011214646576696365207368757474696e6720646f776e";

/** Auth{app_key}, request 2, built byte by byte. */
function auth10(appKey: string): Uint8Array {
  const key = Buffer.from(appKey, "utf8");
  const body = [0x0a, key.length, ...key];
  return Uint8Array.from([0x08, 0x02, 0x62, body.length, ...body]);
}

describe("edge protocol versions and close reasons", () => {
  it("edge - a protocol 1.0 device session (recorded frames) still works against this server", async () => {
    const changes: string[] = [];
    const unsubscribe = ts.server.things.subscribe({ thing: "pump-1" }, (c) => changes.push(`${c.type}:${c.name}`));
    const d = await rawDevice("dev-1");
    d.send(HELLO_1_0);
    const ack = await d.next();
    expect(ack.requestId).toBe(1);
    expect(ack.helloAck?.version).toBe(1);
    expect(ack.helloAck?.capabilities).toContain(CAPABILITY_EVENT_BATCH);
    d.send(auth10(ts.keys["dev-1"]!));
    const auth = await d.next();
    expect([auth.requestId, auth.authResult?.status, auth.authResult?.deviceId]).toEqual([2, 200, "dev-1"]);
    d.send(BIND_1_0);
    const bind = await d.next();
    expect(bind.requestId).toBe(3);
    expect(bind.response?.items?.map((i) => [i.key, i.status])).toEqual([["pump-1", 200]]);
    d.send(UPDATE_1_0);
    const update = await d.next();
    expect([update.requestId, update.response?.status]).toEqual([4, 200]);
    d.send(EVENT_1_0);
    const event = await d.next();
    expect([event.requestId, event.response?.status]).toEqual([5, 200]);
    d.send(KEEPALIVE_1_0);
    const ka = await d.next();
    expect(ka.keepAlive).toMatchObject({ timestampMs: 1767225600002, reply: true });
    expect(changes).toEqual(["property:speed", "event:started"]);
    d.send(GOODBYE_1_0);
    expect(await d.closed).toBe(1000);
    unsubscribe();
  });

  it("edge - a 1.1 device gets version 2 and the multipart and event-batch capabilities", async () => {
    const d = await rawDevice("dev-1");
    d.send(encodeFrame({ requestId: 1, hello: { minVersion: 1, maxVersion: PROTOCOL_VERSION } }));
    const ack = await d.next();
    expect(ack.helloAck?.version).toBe(2);
    expect(ack.helloAck?.capabilities).toEqual(expect.arrayContaining([CAPABILITY_MULTIPART, CAPABILITY_EVENT_BATCH]));
    d.ws.close();
  });

  it("edge - no common version: Goodbye{PROTOCOL_ERROR, OUTPOST_UNSUPPORTED_VERSION} then close 1000", async () => {
    const d = await rawDevice("dev-1");
    d.send(encodeFrame({ requestId: 1, hello: { minVersion: 7, maxVersion: 9 } }));
    const bye = await d.next();
    expect(bye.goodbye).toMatchObject({ reason: GoodbyeReason.PROTOCOL_ERROR, code: ErrorCode.UnsupportedVersion });
    expect(bye.goodbye?.message).toContain("no common protocol version");
    expect(await d.closed).toBe(1000);
  });

  it("edge - a refused Auth: AuthResult{401, code}, then Goodbye{AUTH_REVOKED, code}", async () => {
    const d = await rawDevice("dev-1");
    d.send(HELLO_1_0);
    await d.next();
    d.send(auth10("opk_nope_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
    const result = await d.next();
    expect(result.authResult).toMatchObject({ status: Status.Unauthorized, code: ErrorCode.Unauthorized });
    const bye = await d.next();
    expect(bye.goodbye).toMatchObject({ reason: GoodbyeReason.AUTH_REVOKED, code: ErrorCode.Unauthorized });
    await d.closed;
  });

  it("edge - a KeepAlive with a request id is answered as a probe (request id 0), never with a Response", async () => {
    const d = await rawDevice("dev-1");
    d.send(encodeFrame({ requestId: 9, keepAlive: { timestampMs: 77 } }));
    const answer = await d.next();
    expect(answer.body).toBe("keepAlive");
    expect(answer.requestId).toBe(0);
    expect(answer.keepAlive).toMatchObject({ timestampMs: 77, reply: true });
    d.ws.close();
  });

  it("edge - a text frame after auth gets Goodbye{PROTOCOL_ERROR, OUTPOST_UNEXPECTED_FRAME} before close 1002", async () => {
    const d = await rawDevice("dev-2");
    d.send(HELLO_1_0);
    await d.next();
    d.send(auth10(ts.keys["dev-2"]!));
    expect((await d.next()).authResult?.status).toBe(200);
    d.ws.send("not binary");
    const bye = await d.next();
    expect(bye.goodbye).toMatchObject({ reason: GoodbyeReason.PROTOCOL_ERROR, code: ErrorCode.UnexpectedFrame });
    expect(await d.closed).toBe(1002);
  });

  it("edge - a frame over maxFrameBytes after auth gets Goodbye{PROTOCOL_ERROR, OUTPOST_FRAME_TOO_LARGE} before close 1009", async () => {
    const d = await rawDevice("dev-2");
    d.send(HELLO_1_0);
    const ack = await d.next();
    d.send(auth10(ts.keys["dev-2"]!));
    expect((await d.next()).authResult?.status).toBe(200);
    const max = ack.helloAck?.limits?.maxFrameBytes || 1024 * 1024;
    d.send(new Uint8Array(max + 1));
    const bye = await d.next();
    expect(bye.goodbye).toMatchObject({ reason: GoodbyeReason.PROTOCOL_ERROR, code: ErrorCode.FrameTooLarge });
    expect(await d.closed).toBe(1009);
  });
});
