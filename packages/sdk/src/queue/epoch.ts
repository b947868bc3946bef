import { randomBytes } from "node:crypto";
import type { WireValue } from "@outpost/protocol";
import type { QueueItem } from "./types.js";

/** A new queue epoch: a uniformly random integer in [1, 2^53), as a store draws one when it is created. */
export function newQueueEpoch(): number {
  for (;;) {
    const b = randomBytes(7);
    // 53 bits: the top 5 bits of the first byte are dropped so the value is a safe integer.
    const epoch = (b[0]! & 0x1f) * 2 ** 48 + b.readUIntBE(1, 6);
    if (epoch > 0) return epoch;
  }
}

/** About how many bytes an item takes on the wire: what the in-memory store counts for read limits. */
export function queueItemBytes(item: QueueItem): number {
  let bytes = 32 + item.thing.length + item.name.length;
  if (item.kind === "property") bytes += valueBytes(item.value);
  else for (const [k, v] of Object.entries(item.data)) bytes += 4 + k.length + valueBytes(v);
  return bytes;
}

function valueBytes(v: WireValue): number {
  if (v.stringValue != null) return 4 + v.stringValue.length;
  if (v.jsonValue != null) return 4 + v.jsonValue.length;
  if (v.bytesValue != null) return 4 + v.bytesValue.length;
  return 10;
}
