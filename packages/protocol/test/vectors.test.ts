import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
// @ts-expect-error plain JavaScript helper shared with scripts/make-vectors.mjs
import { hasProtoc, protocEncode } from "../scripts/protoc.mjs";
// @ts-expect-error plain JavaScript helper shared with scripts/make-vectors.mjs
import { envelopeToJson, jsonToEnvelope } from "../scripts/vector-json.mjs";
import { decodeFrame, encodeFrame } from "../src/codec.js";
import { encodeLengthPrefixed, StreamFrameDecoder } from "../src/framing.js";
import { DEFAULT_LIMITS } from "../src/limits.js";
import { BODY_KINDS } from "../src/messages.js";
import { MultipartAssembler, splitMessage } from "../src/multipart.js";
import { FakeClock } from "./helpers/fake-clock.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "vectors");
const setDir = join(root, "multipart-set");

function load(dir: string, name: string) {
  return {
    name,
    bin: new Uint8Array(readFileSync(join(dir, `${name}.bin`))),
    text: readFileSync(join(dir, `${name}.txtpb`), "utf8"),
    doc: JSON.parse(readFileSync(join(dir, `${name}.json`), "utf8")) as {
      hex: string;
      envelope: object;
      maxFrameBytes?: number;
    },
  };
}

const names = (dir: string): string[] =>
  readdirSync(dir)
    .filter((f) => f.endsWith(".json"))
    .map((f) => f.slice(0, -5))
    .sort((a, b) => a.localeCompare(b, "en", { numeric: true }));
const vectors = names(root).map((name) => load(root, name));
const set = names(setDir).map((name) => load(setDir, name));
const message = set.find((v) => v.name === "message")!;
const parts = set.filter((v) => v.name.startsWith("part-"));

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
}

describe("vectors", () => {
  it("vectors - at least one vector per body kind", () => {
    const kinds = new Set(vectors.map((v) => decodeFrame(v.bin).body));
    expect([...kinds].sort()).toEqual([...BODY_KINDS].sort());
  });

  it("vectors - protoc --encode of each text-format vector gives its bytes (independent encoder)", () => {
    // CI installs protoc (.ci/run); without it this check cannot run, which must not pass silently.
    expect(hasProtoc(), "protoc is required: apt-get install protobuf-compiler").toBe(true);
    for (const v of [...vectors, ...set]) {
      expect(hex(new Uint8Array(protocEncode(v.text) as Buffer)), v.name).toBe(v.doc.hex);
    }
  });

  it("vectors - the multipart set reassembles to its message and splitMessage reproduces its parts", () => {
    expect(parts.length).toBeGreaterThan(1);
    const max = parts[0]!.doc.maxFrameBytes!;
    const asm = new MultipartAssembler({ clock: new FakeClock() });
    let whole: Uint8Array | undefined;
    parts.forEach((p, i) => {
      expect(p.bin.byteLength).toBeLessThanOrEqual(max);
      const part = decodeFrame(p.bin, { ...DEFAULT_LIMITS, maxFrameBytes: max });
      expect(part.requestId).toBe(0);
      whole = asm.push(part.multipart!);
      expect(whole === undefined, `part ${i}`).toBe(i < parts.length - 1);
    });
    expect(hex(whole!)).toBe(message.doc.hex);
    const id = decodeFrame(parts[0]!.bin).multipart!.messageId!;
    expect(splitMessage(message.bin, id, max).map((p) => hex(encodeFrame(p)))).toEqual(parts.map((p) => p.doc.hex));
  });

  it("vectors - map entries encode in key order whatever order the map was built in", () => {
    const v = vectors.find((x) => x.name === "service-invoke")!;
    const decoded = decodeFrame(v.bin);
    const params = decoded.serviceInvoke!.params!;
    const reversed = Object.fromEntries(Object.entries(params).reverse());
    expect(Object.keys(reversed)).not.toEqual(Object.keys(params));
    const init = { requestId: decoded.requestId, serviceInvoke: { ...decoded.serviceInvoke!, params: reversed } };
    expect(hex(encodeFrame(init))).toBe(v.doc.hex);
  });

  for (const { name, bin, doc } of [...vectors, ...set]) {
    it(`vectors - ${name} decodes to its JSON, encodes to its bytes, round-trips`, () => {
      expect(hex(bin)).toBe(doc.hex);
      const decoded = decodeFrame(bin);
      expect(envelopeToJson(decoded)).toEqual(doc.envelope);
      expect(Object.keys(doc.envelope)).toContain(decoded.body);
      expect(hex(encodeFrame(jsonToEnvelope(doc.envelope)))).toBe(doc.hex);
      expect(hex(encodeFrame(decoded))).toBe(doc.hex);
    });
  }

  it("vectors - byte-by-byte stream of all vectors yields each frame", () => {
    const stream = Buffer.concat(vectors.map((v) => encodeLengthPrefixed(v.bin)));
    const dec = new StreamFrameDecoder();
    const frames: Uint8Array[] = [];
    for (let i = 0; i < stream.byteLength; i++) frames.push(...dec.push(stream.subarray(i, i + 1)));
    expect(frames.map(hex)).toEqual(vectors.map((v) => v.doc.hex));
    for (const f of frames) expect(() => decodeFrame(f)).not.toThrow();
  });
});
