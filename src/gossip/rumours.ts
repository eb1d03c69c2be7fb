// The dissemination queue: rumours waiting to ride on pings and acks, one per
// member (a newer rumour replaces the older), each sent a bounded number of
// times, least-sent first (memberlist's TransmitLimitedQueue, simplified).
import type { Update } from "./members.ts";

/** At most this many rumours ride on one message. */
const MAX_PIGGYBACK = 6;

export class RumourQueue {
  private readonly queue = new Map<string, { u: Update; sent: number }>();

  add(u: Update): void {
    this.queue.set(u.id, { u, sent: 0 });
  }

  has(id: string): boolean {
    return this.queue.has(id);
  }

  /** The rumours for the next message; one sent `limit` times is done. */
  take(limit: number): Update[] {
    const items = [...this.queue.values()].sort((a, b) => a.sent - b.sent).slice(0, MAX_PIGGYBACK);
    for (const item of items) if (++item.sent >= limit) this.queue.delete(item.u.id);
    return items.map((i) => i.u);
  }
}
