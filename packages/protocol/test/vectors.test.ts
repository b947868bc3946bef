import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
// @ts-expect-error plain JavaScript helper shared with scripts/make-vectors.mjs
import { envelopeToJson, jsonToEnvelope } from "../scripts/vector-json.mjs";
import { decodeFrame, encodeFrame } from "../src/codec.js";
import { encodeLengthPrefixed, StreamFrameDecoder } from "../src/framing.js";
import { BODY_KINDS } from "../src/messages.js";

const dir = join(dirname(fileURLToPath(import.meta.url)), "..", "vectors");
const names = readdirSync(dir)
  .filter((f) => f.endsWith(".json"))
  .map((f) => f.slice(0, -5))
  .sort();
const vectors = names.map((name) => ({
  name,
  bin: new Uint8Array(readFileSync(join(dir, `${name}.bin`))),
  doc: JSON.parse(readFileSync(join(dir, `${name}.json`), "utf8")) as { hex: string; envelope: object },
}));

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
}

describe("vectors", () => {
  it("vectors - one vector per body kind", () => {
    const kinds = vectors.map((v) => decodeFrame(v.bin).body).sort();
    expect(kinds).toEqual([...BODY_KINDS].sort());
  });

  for (const { name, bin, doc } of vectors) {
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
