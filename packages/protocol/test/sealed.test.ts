import { describe, expect, it } from "vitest";
import { createKeyShare, deriveSessionKeys, KEY_SHARE_BYTES, openSealed, seal, type KeyShare } from "../src/index.js";

function pair(
  label = "outpost-test-v1",
  sessionId = "s-1",
  a: KeyShare = createKeyShare(),
  b: KeyShare = createKeyShare(),
) {
  const common = { label, sessionId, initiatorPublic: a.publicKey, responderPublic: b.publicKey };
  return {
    initiator: deriveSessionKeys({ ...common, own: a, role: "initiator" }),
    responder: deriveSessionKeys({ ...common, own: b, role: "responder" }),
  };
}

const aad = Buffer.from("transfer t-1 chunk 3 of 9");
const text = Buffer.from("the quick brown fox jumps over the lazy dog");

describe("sealed records", () => {
  it("sealed - both ends derive the same directional keys, different per direction", () => {
    const { initiator, responder } = pair();
    expect(Buffer.from(initiator.send)).toEqual(Buffer.from(responder.receive));
    expect(Buffer.from(initiator.receive)).toEqual(Buffer.from(responder.send));
    expect(Buffer.from(initiator.send)).not.toEqual(Buffer.from(initiator.receive));
  });

  it("sealed - the same shares give other keys for another session id or label", () => {
    const a = createKeyShare();
    const b = createKeyShare();
    const base = pair("outpost-test-v1", "s-1", a, b).initiator.send;
    expect(Buffer.from(pair("outpost-test-v1", "s-2", a, b).initiator.send)).not.toEqual(Buffer.from(base));
    expect(Buffer.from(pair("outpost-other-v1", "s-1", a, b).initiator.send)).not.toEqual(Buffer.from(base));
  });

  it("sealed - a record opens with its key, counter and associated data", () => {
    const { initiator, responder } = pair();
    const sealed = seal(initiator.send, 3, aad, text);
    expect(sealed.length).toBe(text.length + 16);
    expect(sealed.includes(text)).toBe(false);
    expect(openSealed(responder.receive, 3, aad, sealed)).toEqual(text);
  });

  it("sealed - every flipped bit, another counter, other associated data, a cut or the other direction is refused", () => {
    const { initiator, responder } = pair();
    const sealed = seal(initiator.send, 3, aad, text);
    for (let bit = 0; bit < sealed.length * 8; bit += 7) {
      const bad = Buffer.from(sealed);
      bad[bit >> 3]! ^= 1 << (bit & 7);
      expect(() => openSealed(responder.receive, 3, aad, bad)).toThrow(
        expect.objectContaining({ code: "OUTPOST_INTEGRITY" }),
      );
    }
    const refused = [
      () => openSealed(responder.receive, 4, aad, sealed),
      () => openSealed(responder.receive, 3, Buffer.from("transfer t-1 chunk 3 of 8"), sealed),
      () => openSealed(responder.receive, 3, aad, sealed.subarray(0, sealed.length - 1)),
      () => openSealed(responder.receive, 3, aad, sealed.subarray(0, 5)),
      () => openSealed(responder.send, 3, aad, sealed),
    ];
    for (const attempt of refused) expect(attempt).toThrow(expect.objectContaining({ code: "OUTPOST_INTEGRITY" }));
  });

  it("sealed - a wrong-sized or low-order peer share is refused", () => {
    const a = createKeyShare();
    const common = { label: "l", sessionId: "s", own: a, role: "initiator" as const, initiatorPublic: a.publicKey };
    expect(() => deriveSessionKeys({ ...common, responderPublic: new Uint8Array(31) })).toThrow(
      expect.objectContaining({ code: "OUTPOST_INTEGRITY" }),
    );
    expect(() => deriveSessionKeys({ ...common, responderPublic: new Uint8Array(KEY_SHARE_BYTES) })).toThrow(
      expect.objectContaining({ code: "OUTPOST_INTEGRITY" }),
    );
    const stranger = createKeyShare();
    expect(() =>
      deriveSessionKeys({ ...common, initiatorPublic: stranger.publicKey, responderPublic: a.publicKey }),
    ).toThrow(expect.objectContaining({ code: "OUTPOST_BAD_REQUEST" }));
  });

  it("sealed - counters outside [0, 2^53) are refused", () => {
    const { initiator } = pair();
    for (const counter of [-1, 1.5, 2 ** 53])
      expect(() => seal(initiator.send, counter, aad, text)).toThrow(
        expect.objectContaining({ code: "OUTPOST_BAD_REQUEST" }),
      );
  });
});
