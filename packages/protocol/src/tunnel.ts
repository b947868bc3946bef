import { ErrorCode, OutpostError } from "./errors.js";
import { encodeLengthPrefixed, StreamFrameDecoder } from "./framing.js";
import { wire } from "./messages.js";
import { deriveSessionKeys, type KeyShare, open, sealParts, type SessionKeys, SEAL_TAG_BYTES } from "./sealed.js";
import type { StreamResetError } from "./stream.js";
import type { outpost } from "./generated/outpost.js";

/** The stream type of every tunnel stream (docs/protocol.md §13). */
export const TUNNEL_STREAM_TYPE = "tunnel";
/** HKDF label of tunnel keys: keys of other purposes never coincide with them. */
export const TUNNEL_KEY_LABEL = "outpost-tunnel-v1";
/** Largest plaintext of one sealed record. */
export const MAX_TUNNEL_RECORD_BYTES = 64 * 1024 - 64;

/**
 * Stream limits of the operator's tunnel connection, the same on both ends (it has no Hello): one
 * connection per session, so its windows can be wider than a device connection's.
 */
export const TUNNEL_HOP_LIMITS = { streamWindow: 1024 * 1024, connectionWindow: 16 * 1024 * 1024, maxStreams: 1024 };

/** What a tunnel stream's StreamOpen.header holds. */
export type TunnelHeader = outpost.v1.TunnelHeader.$Properties;
export type TunnelSessionInit = outpost.v1.TunnelSession.$Properties;
export type TunnelAccept = outpost.v1.TunnelAccept.$Properties;

/**
 * `StreamReset.code` values of tunnel streams (256 and up are the application's, §10). A reset of a
 * session stream ends the whole session; of a connection stream, that connection only.
 */
export const TunnelResetCode = {
  /** The device has no target of that name. */
  TargetNotAllowed: 256,
  /** The device's approver said no. */
  Denied: 257,
  /** The device's approver did not answer in time. */
  ApprovalTimeout: 258,
  /** Over the concurrent tunnel sessions allowed for the device (device or server limit). */
  TooManyTunnels: 259,
  /** Over the concurrent connections allowed (per session or per device). */
  TooManyConnections: 260,
  /** No byte moved for the idle timeout. */
  IdleTimeout: 261,
  /** The session reached its maximum duration. */
  MaxDuration: 262,
  /** Closed on purpose (`outpost tunnel close`, the device application, the server shutting down). */
  Closed: 263,
  /** The device's connection to the server ended. */
  DeviceGone: 264,
  /** A record failed authentication, or the handshake did not verify. */
  Integrity: 265,
  /** The device could not connect to the target. */
  TargetUnreachable: 266,
  /** A header or record was malformed, or a connection named no open session. */
  BadRequest: 267,
} as const;

const TUNNEL_ERROR_CODES: Record<number, ErrorCode> = {
  256: ErrorCode.Forbidden,
  257: ErrorCode.Forbidden,
  258: ErrorCode.Timeout,
  259: ErrorCode.TooManyStreams,
  260: ErrorCode.TooManyStreams,
  261: ErrorCode.Timeout,
  262: ErrorCode.Timeout,
  263: ErrorCode.ConnectionClosed,
  264: ErrorCode.Unavailable,
  265: ErrorCode.Integrity,
  266: ErrorCode.Unavailable,
  267: ErrorCode.BadRequest,
};

/** The typed error for a tunnel stream's reset: the reset's message, with the code its reset code maps to. */
export function tunnelErrorFromReset(err: StreamResetError): OutpostError {
  const code = TUNNEL_ERROR_CODES[err.resetCode];
  if (code === undefined) return err;
  return new OutpostError(code, err.message, { cause: err });
}

/** Encodes a tunnel stream's header. */
export function encodeTunnelHeader(header: TunnelHeader): Uint8Array {
  return wire.TunnelHeader.encode(header).finish();
}

/** Decodes a tunnel stream's header; OUTPOST_BAD_REQUEST when it is not one. */
export function decodeTunnelHeader(bytes: Uint8Array): outpost.v1.TunnelHeader {
  try {
    const h = wire.TunnelHeader.decode(bytes);
    if (!h.kind) throw new Error("no kind");
    return h;
  } catch (cause) {
    throw new OutpostError(ErrorCode.BadRequest, "malformed tunnel header", { cause });
  }
}

/** The device's TunnelAccept as the bytes it writes on the session stream (length-prefixed). */
export function encodeTunnelAccept(accept: TunnelAccept): Uint8Array {
  return encodeLengthPrefixed(wire.TunnelAccept.encode(accept).finish());
}

/** Decodes a TunnelAccept (without its prefix); OUTPOST_BAD_REQUEST when malformed. */
export function decodeTunnelAccept(bytes: Uint8Array): outpost.v1.TunnelAccept {
  try {
    return wire.TunnelAccept.decode(bytes);
  } catch (cause) {
    throw new OutpostError(ErrorCode.BadRequest, "malformed tunnel accept", { cause });
  }
}

/** What the device signs and the operator client verifies (docs/protocol.md §13). */
export interface TunnelTranscript {
  sessionId: string;
  deviceId: string;
  target: string;
  operatorShare: Uint8Array;
  deviceShare: Uint8Array;
}

/** The transcript's bytes: label, session id, device id, target (each length-prefixed), both shares. */
export function tunnelTranscript(t: TunnelTranscript): Buffer {
  const lp = (s: string) => {
    const b = Buffer.from(s, "utf8");
    const head = Buffer.alloc(2);
    head.writeUInt16BE(b.length);
    return Buffer.concat([head, b]);
  };
  return Buffer.concat([
    lp(TUNNEL_KEY_LABEL),
    lp(t.sessionId),
    lp(t.deviceId),
    lp(t.target),
    t.operatorShare,
    t.deviceShare,
  ]);
}

/** The keys of one connection of a session: one HKDF per connection, so nonces never repeat across connections. */
export function tunnelConnectionKeys(input: {
  sessionId: string;
  connection: number;
  own: KeyShare;
  role: "initiator" | "responder";
  operatorShare: Uint8Array;
  deviceShare: Uint8Array;
}): SessionKeys {
  return deriveSessionKeys({
    label: TUNNEL_KEY_LABEL,
    sessionId: `${input.sessionId}/${input.connection}`,
    own: input.own,
    role: input.role,
    initiatorPublic: input.operatorShare,
    responderPublic: input.deviceShare,
  });
}

const RECORD_DATA = 0;
const RECORD_END = 1;
const AAD_DATA = Uint8Array.of(RECORD_DATA);
const AAD_END = Uint8Array.of(RECORD_END);

/**
 * The sealed records of one tunnel connection, both directions. On the stream each record is a
 * 4-byte length, a type byte (0 data, 1 end) and AES-256-GCM(ciphertext + tag) with the direction's
 * record sequence number as nonce and the type byte as associated data. So a record changed,
 * dropped, repeated, reordered or moved to another connection fails authentication, and a
 * connection cut short without its end record is detected.
 */
export class TunnelRecords {
  private sendSeq = 0;
  private receiveSeq = 0;
  private ended = false;
  private readonly decoder = new StreamFrameDecoder({ maxFrameBytes: MAX_TUNNEL_RECORD_BYTES + SEAL_TAG_BYTES + 1 });

  constructor(private readonly keys: SessionKeys) {}

  /** True once the peer's authenticated end record arrived. */
  get peerEnded(): boolean {
    return this.ended;
  }

  /** Seals `data` as one or more framed data records (at most MAX_TUNNEL_RECORD_BYTES each). */
  sealData(data: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (let at = 0; at < data.byteLength; at += MAX_TUNNEL_RECORD_BYTES) {
      out.push(Buffer.concat(this.recordParts(RECORD_DATA, data.subarray(at, at + MAX_TUNNEL_RECORD_BYTES))));
    }
    return out;
  }

  /**
   * {@link sealData} as pieces to write to the stream in order (each record's 5-byte head, its
   * ciphertext and its tag), so the ciphertext is copied only into the stream frame it leaves in.
   */
  sealDataParts(data: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (let at = 0; at < data.byteLength; at += MAX_TUNNEL_RECORD_BYTES) {
      out.push(...this.recordParts(RECORD_DATA, data.subarray(at, at + MAX_TUNNEL_RECORD_BYTES)));
    }
    return out;
  }

  /** The framed end record: our direction is done (a half-close). */
  sealEnd(): Uint8Array {
    return this.record(RECORD_END, new Uint8Array(0));
  }

  /**
   * Opens what arrived on the stream (any chunking); returns the plaintexts completed. Throws
   * OUTPOST_INTEGRITY for a record that does not authenticate or arrives after the end record.
   */
  open(chunk: Uint8Array): Uint8Array[] {
    let frames: Uint8Array[];
    try {
      frames = this.decoder.push(chunk);
    } catch (cause) {
      throw new OutpostError(ErrorCode.Integrity, "tunnel record too large", { cause });
    }
    const out: Uint8Array[] = [];
    for (const frame of frames) {
      if (this.ended) throw new OutpostError(ErrorCode.Integrity, "tunnel record after the end record");
      const type = frame[0];
      if (frame.byteLength < 1 + SEAL_TAG_BYTES || (type !== RECORD_DATA && type !== RECORD_END))
        throw new OutpostError(ErrorCode.Integrity, "malformed tunnel record");
      const plain = open(this.keys.receive, this.receiveSeq++, frame.subarray(0, 1), frame.subarray(1));
      if (type === RECORD_END) this.ended = true;
      else if (plain.byteLength > 0) out.push(plain);
    }
    return out;
  }

  private record(type: number, plain: Uint8Array): Uint8Array {
    return Buffer.concat(this.recordParts(type, plain));
  }

  private recordParts(type: number, plain: Uint8Array): Uint8Array[] {
    const sealed = sealParts(this.keys.send, this.sendSeq++, type === RECORD_DATA ? AAD_DATA : AAD_END, plain);
    let length = 1;
    for (const p of sealed) length += p.byteLength;
    const head = new Uint8Array(5);
    new DataView(head.buffer).setUint32(0, length, false);
    head[4] = type;
    return [head, ...sealed];
  }
}
