// The JSON form of a vector (scripts/vector-json.mjs) as protobuf text format, for `protoc --encode`.
// Field names go from lowerCamelCase to the schema's snake_case; maps become repeated entries with
// key and value; bytes fields are hex in JSON and octal escapes here; strings are UTF-8.
import { BYTES_FIELDS } from "./vector-json.mjs";

const MAP_FIELDS = new Set(["params", "data"]);

const snake = (name) => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

function quote(bytes) {
  let s = '"';
  for (const b of bytes) {
    if (b === 0x22) s += '\\"';
    else if (b === 0x5c) s += "\\\\";
    else if (b >= 0x20 && b < 0x7f) s += String.fromCharCode(b);
    else s += `\\${b.toString(8).padStart(3, "0")}`;
  }
  return `${s}"`;
}

function scalar(key, v) {
  if (typeof v === "string") return quote(BYTES_FIELDS.has(key) ? Buffer.from(v, "hex") : Buffer.from(v, "utf8"));
  return String(v);
}

function fields(node, indent) {
  const pad = "  ".repeat(indent);
  let out = "";
  for (const [key, v] of Object.entries(node)) {
    const name = snake(key);
    if (MAP_FIELDS.has(key) && typeof v === "object") {
      for (const [k, value] of Object.entries(v)) {
        out += `${pad}${name} {\n${pad}  key: ${quote(Buffer.from(k, "utf8"))}\n${pad}  value {\n`;
        out += fields(value, indent + 2);
        out += `${pad}  }\n${pad}}\n`;
      }
    } else if (Array.isArray(v)) {
      for (const item of v) out += entry(name, key, item, pad, indent);
    } else {
      out += entry(name, key, v, pad, indent);
    }
  }
  return out;
}

function entry(name, key, v, pad, indent) {
  if (v !== null && typeof v === "object") return `${pad}${name} {\n${fields(v, indent + 1)}${pad}}\n`;
  return `${pad}${name}: ${scalar(key, v)}\n`;
}

/** Text format of an envelope in the JSON form of the vectors. */
export function envelopeToText(json) {
  return fields(json, 0);
}
