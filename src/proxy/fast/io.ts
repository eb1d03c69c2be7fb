// Writes with backpressure between two sockets. Bun's socket.write takes
// what the kernel accepts now and returns how much; the rest waits here,
// and the socket feeding it is paused until the writer drains, so a slow
// reader holds at most one chunk per direction in memory.
import type { Socket } from "bun";

export interface Outbox {
  queue: Uint8Array[];
}

// What waits is kept as a view when it is most of its buffer, else copied:
// Bun hands each data callback a buffer of its own and never writes to it
// again (test/proxy/runtime.test.ts holds it to that), so a view is safe; a
// copy of a small rest lets the rest of a large read buffer go. Held bytes
// are at most twice what waits (under 1 MiB responses at -c32 the largest
// RSS was 310-338 MiB with a view of every rest, 278-290 MiB with copies).
const keep = (chunk: Uint8Array, from: number, end: number): Uint8Array =>
  (end - from) * 2 >= chunk.length ? chunk.subarray(from, end) : new Uint8Array(chunk.subarray(from, end)); // (Buffer#slice is a view)

/** Writes `chunk[from, end)` to `to`; true when it all went out, false when some waits in the outbox. */
export function send(to: Socket<Outbox>, chunk: Uint8Array, from = 0, end = chunk.length): boolean {
  if (end <= from) return to.data.queue.length === 0;
  const q = to.data.queue;
  if (q.length) {
    q.push(keep(chunk, from, end));
    return false;
  }
  const n = to.write(chunk, from, end - from);
  if (n >= end - from) return true;
  q.push(keep(chunk, from + Math.max(0, n), end));
  return false;
}

/** Writes what waits (on `drain`); true once the outbox is empty. */
export function flush(to: Socket<Outbox>): boolean {
  const q = to.data.queue;
  while (q.length) {
    const chunk = q[0]!;
    const n = to.write(chunk);
    if (n < chunk.length) {
      q[0] = chunk.subarray(Math.max(0, n));
      return false;
    }
    q.shift();
  }
  return true;
}

export const pending = (s: Socket<Outbox>): boolean => s.data.queue.length > 0;
