// Conversion between envelopes and the JSON form of the golden vectors: plain objects with only the
// fields that are set (protobuf defaults omitted), no `body` discriminator, bytes fields as hex.

/** Fields of type bytes, hex in the JSON form (`data` is bytes in StreamData, a map in Event). */
export const BYTES_FIELDS = new Set(["bytesValue", "payload", "header", "data"]);

/** Envelope (decoded or init) -> JSON-able object. */
export function envelopeToJson(node) {
  if (node instanceof Uint8Array) return Buffer.from(node).toString("hex");
  if (Array.isArray(node)) return node.map(envelopeToJson);
  if (node === null || typeof node !== "object") return node;
  const out = {};
  for (const key of Object.keys(node)) {
    if (key === "body" || key === "kind" || key === "$unknowns") continue;
    const v = node[key];
    if (v === undefined || v === null || v === 0 || v === "" || v === false) continue;
    if (Array.isArray(v) && v.length === 0) continue;
    out[key] = envelopeToJson(v);
  }
  return out;
}

/** JSON form -> envelope init accepted by encodeFrame. */
export function jsonToEnvelope(node, key = "") {
  if (BYTES_FIELDS.has(key) && typeof node === "string") return Uint8Array.from(Buffer.from(node, "hex"));
  if (Array.isArray(node)) return node.map((v) => jsonToEnvelope(v));
  if (node === null || typeof node !== "object") return node;
  const out = {};
  for (const [k, v] of Object.entries(node)) out[k] = jsonToEnvelope(v, k);
  return out;
}

/** JSON text with object keys sorted, for order-insensitive comparison. */
export function canonical(node) {
  return JSON.stringify(node, (_k, v) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(
          Object.keys(v)
            .sort()
            .map((k) => [k, v[k]]),
        )
      : v,
  );
}
