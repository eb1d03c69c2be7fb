// Where a new preview goes: here if this node has room; else the alive node
// with the most room. A slot handed out is reserved here until its create
// is done and a moment after (until the node's gossip catches up), so a
// burst of creates spreads instead of piling onto the node that looked
// emptiest. The chosen node still checks its own room and may answer 503;
// the router then asks again.
import type { Member, Meta } from "../gossip/swim.ts";

/** How long a finished create still counts against its node's gossiped room. */
const LINGER_MS = 1000;

export class Placement {
  private readonly reserved = new Map<string, number>();

  constructor(private readonly self: string, private readonly members: () => Member[], private readonly localMeta: () => Meta) {}

  private room(id: string, free: number): number {
    // A sibling's gossiped room, less the slots handed out here that its gossip may not show yet.
    return free - (this.reserved.get(id) ?? 0);
  }

  place(): { node: string; release(): void } | null {
    // This node's own count is exact (it includes creates in flight): no reservation on top.
    if (this.localMeta().free > 0) return { node: this.self, release: () => {} };
    let best: { id: string; room: number } | undefined;
    for (const m of this.members()) {
      if (m.id === this.self || m.state !== "alive") continue;
      const room = this.room(m.id, m.meta.free);
      if (room > 0 && (!best || room > best.room)) best = { id: m.id, room };
    }
    if (!best) return null;
    const node = best.id;
    this.reserved.set(node, (this.reserved.get(node) ?? 0) + 1);
    let released = false;
    return {
      node,
      release: () => {
        if (released) return;
        released = true;
        // The sibling's own count shows the create with its next rumour; until then it still counts here.
        setTimeout(() => this.reserved.set(node, Math.max(0, (this.reserved.get(node) ?? 1) - 1)), LINGER_MS).unref?.();
      },
    };
  }
}
