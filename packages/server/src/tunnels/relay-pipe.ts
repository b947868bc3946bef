import { isOutpostError, type Stream, StreamResetError, TunnelResetCode } from "@outpost/protocol";

/** Counts and observes what one direction of a relayed connection carries. */
export interface RelayDirection {
  /** Bytes relayed so far (ciphertext records, as they cross the server). */
  bytes: number;
  /** Called with each relayed chunk before it is forwarded (a test hook: it sees only ciphertext). */
  tap?: (chunk: Uint8Array) => void;
  /** Called before forwarding `n` bytes; may wait (the bandwidth cap). */
  pace?: (n: number) => Promise<void>;
  /** Called on every chunk (idle tracking). */
  onActivity?: () => void;
}

/**
 * Relays `from` into `to` without buffering beyond the streams' own bounds: the next chunk is read
 * from `from` (which is what returns credit to its sender) only once `to` holds at most its write
 * high water unsent. So per direction the server holds at most `from`'s receive window plus `to`'s
 * high water plus one chunk, however slow `to`'s reader is. A fin is passed on as a fin; a reset or
 * a lost connection on either side resets the other (see {@link linkResets}).
 */
export async function relayStream(from: Stream, to: Stream, direction: RelayDirection): Promise<void> {
  try {
    for (;;) {
      const chunk = await from.read();
      if (chunk === undefined) {
        await to.end();
        return;
      }
      direction.bytes += chunk.byteLength;
      direction.onActivity?.();
      direction.tap?.(chunk);
      if (direction.pace) await direction.pace(chunk.byteLength);
      await to.write(chunk);
    }
  } catch {
    // the reset crosses over through linkResets
  }
}

/**
 * A reset or lost connection of either stream resets the other: a peer's reset keeps its code and
 * message; a lost device connection is DeviceGone, a lost operator connection Closed.
 */
export function linkResets(operator: Stream, device: Stream): void {
  void device.closed().then((err) => {
    if (err) operator.reset(...carried(err, TunnelResetCode.DeviceGone, "the device disconnected"));
  });
  void operator.closed().then((err) => {
    if (err) device.reset(...carried(err, TunnelResetCode.Closed, "the operator disconnected"));
  });
}

function carried(err: Error, lostCode: number, lostMessage: string): [number, string] {
  if (err instanceof StreamResetError) return [err.resetCode, err.message];
  if (isOutpostError(err)) return [lostCode, lostMessage];
  return [lostCode, lostMessage];
}
