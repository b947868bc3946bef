import { createPrivateKey } from "node:crypto";
import { describe, expect, it } from "vitest";
import { makePki } from "../../server/test/edge-harness.js";
import {
  createKeyShare,
  decodeTunnelAccept,
  encodeTunnelAccept,
  signTunnelTranscript,
  tunnelConnectionKeys,
  TunnelRecords,
  verifyTunnelAccept,
} from "../src/index.js";
import { X509Certificate } from "node:crypto";

const pki = makePki(["dev-1", "dev-2"]);
const deviceCert = new Uint8Array(new X509Certificate(pki.devices["dev-1"]!.certPem).raw);
const deviceKey = createPrivateKey(pki.devices["dev-1"]!.keyPem);

function handshake(overrides: { deviceId?: string; target?: string; sessionId?: string } = {}) {
  const operator = createKeyShare();
  const device = createKeyShare();
  const signature = signTunnelTranscript(deviceKey, {
    sessionId: overrides.sessionId ?? "s-1",
    deviceId: overrides.deviceId ?? "dev-1",
    target: overrides.target ?? "ssh",
    operatorShare: operator.publicKey,
    deviceShare: device.publicKey,
  });
  const bytes = encodeTunnelAccept({
    deviceShare: device.publicKey,
    signature,
    certificate: deviceCert,
    deviceId: "dev-1",
  });
  const accept = decodeTunnelAccept(bytes.subarray(4));
  const input = {
    deviceCaPem: pki.caPem,
    deviceId: "dev-1",
    sessionId: "s-1",
    target: "ssh",
    operatorShare: operator.publicKey,
  };
  return { operator, device, accept, input };
}

describe("tunnel handshake and records", () => {
  it("tunnels - the operator accepts the device's signed answer and both derive the same connection keys", () => {
    const { operator, device, accept, input } = handshake();
    const deviceShare = verifyTunnelAccept(accept, input);
    const a = tunnelConnectionKeys({
      sessionId: "s-1",
      connection: 1,
      own: operator,
      role: "initiator",
      operatorShare: operator.publicKey,
      deviceShare,
    });
    const b = tunnelConnectionKeys({
      sessionId: "s-1",
      connection: 1,
      own: device,
      role: "responder",
      operatorShare: operator.publicKey,
      deviceShare: device.publicKey,
    });
    expect(Buffer.from(a.send).equals(Buffer.from(b.receive))).toBe(true);
    const c2 = tunnelConnectionKeys({
      sessionId: "s-1",
      connection: 2,
      own: operator,
      role: "initiator",
      operatorShare: operator.publicKey,
      deviceShare,
    });
    expect(Buffer.from(c2.send).equals(Buffer.from(a.send))).toBe(false);
  });

  it("tunnels - a relay that swaps the device's key share is detected (OUTPOST_INTEGRITY)", () => {
    const { accept, input } = handshake();
    const relayShare = createKeyShare().publicKey;
    expect(() => verifyTunnelAccept({ ...accept, deviceShare: relayShare }, input)).toThrow(
      expect.objectContaining({ code: "OUTPOST_INTEGRITY" }),
    );
    // ... or the operator's share on the way to the device (the device then signed another share).
    expect(() => verifyTunnelAccept(accept, { ...input, operatorShare: relayShare })).toThrow(
      expect.objectContaining({ code: "OUTPOST_INTEGRITY" }),
    );
  });

  it("tunnels - an answer for another session, target or device, or from a certificate of another CA, is refused", () => {
    const { accept, input } = handshake();
    expect(() => verifyTunnelAccept(accept, { ...input, sessionId: "s-2" })).toThrow(/signature/);
    expect(() => verifyTunnelAccept(accept, { ...input, target: "web" })).toThrow(/signature/);
    expect(() => verifyTunnelAccept(accept, { ...input, deviceId: "dev-2" })).toThrow(/not dev-2/);
    const rogue = new Uint8Array(new X509Certificate(pki.rogue.certPem).raw);
    expect(() => verifyTunnelAccept({ ...accept, certificate: rogue }, input)).toThrow(/device CA/);
  });

  it("tunnels - records: a changed, dropped, reordered or cut record fails; an end record half-closes", () => {
    const op = createKeyShare();
    const dv = createKeyShare();
    const base = { sessionId: "s", connection: 1, operatorShare: op.publicKey, deviceShare: dv.publicKey };
    const tx = new TunnelRecords(tunnelConnectionKeys({ ...base, own: op, role: "initiator" }));
    const rx = () => new TunnelRecords(tunnelConnectionKeys({ ...base, own: dv, role: "responder" }));
    const [r1] = tx.sealData(Buffer.from("hello"));
    const [r2] = tx.sealData(Buffer.from("world"));
    const end = tx.sealEnd();
    const ok = rx();
    const all = Buffer.concat([r1!, r2!, end]);
    // Byte by byte: records are found whatever the chunking.
    const out: Uint8Array[] = [];
    for (const b of all) out.push(...ok.open(Uint8Array.of(b)));
    expect(Buffer.concat(out).toString()).toBe("helloworld");
    expect(ok.peerEnded).toBe(true);
    const flipped = Buffer.from(r1!);
    flipped[flipped.length - 1]! ^= 1;
    expect(() => rx().open(flipped)).toThrow(expect.objectContaining({ code: "OUTPOST_INTEGRITY" }));
    expect(() => rx().open(r2!)).toThrow(expect.objectContaining({ code: "OUTPOST_INTEGRITY" }));
    const replay = rx();
    replay.open(r1!);
    expect(() => replay.open(r1!)).toThrow(expect.objectContaining({ code: "OUTPOST_INTEGRITY" }));
  });
});
