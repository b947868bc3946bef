/** One DER element: its tag byte and where its contents lie in the buffer. */
export interface DerElement {
  tag: number;
  /** Offset of the first content byte. */
  start: number;
  /** Offset just past the last content byte. */
  end: number;
}

/**
 * Reads the DER element at `offset`. Throws a RangeError on truncated or malformed input (long
 * lengths over 4 bytes, lengths past the end); callers turn that into their own typed error.
 */
export function readDer(buf: Uint8Array, offset: number, limit = buf.length): DerElement {
  if (offset + 2 > limit) throw new RangeError("DER element truncated");
  const tag = buf[offset]!;
  let len = buf[offset + 1]!;
  let start = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || start + n > limit) throw new RangeError("bad DER length");
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[start + i]!;
    start += n;
  }
  const end = start + len;
  if (end > limit) throw new RangeError("DER element runs past its container");
  return { tag, start, end };
}

/** The elements directly inside a constructed element (a SEQUENCE, a context tag). */
export function derChildren(buf: Uint8Array, parent: DerElement): DerElement[] {
  const out: DerElement[] = [];
  for (let at = parent.start; at < parent.end;) {
    const el = readDer(buf, at, parent.end);
    out.push(el);
    at = el.end;
  }
  return out;
}

/** Dotted text of an OBJECT IDENTIFIER element. */
export function derOid(buf: Uint8Array, el: DerElement): string {
  if (el.tag !== 0x06 || el.end <= el.start) throw new RangeError("not an OBJECT IDENTIFIER");
  const first = buf[el.start]!;
  const parts = [Math.min(2, Math.floor(first / 40)), first - 40 * Math.min(2, Math.floor(first / 40))];
  let value = 0;
  for (let i = el.start + 1; i < el.end; i++) {
    value = value * 128 + (buf[i]! & 0x7f);
    if (!(buf[i]! & 0x80)) {
      parts.push(value);
      value = 0;
    }
  }
  return parts.join(".");
}
