// The idle clock, as sablier keeps it: a last-active time per preview that each
// proxied request renews, plus a count of open WebSockets (a preview with an
// open socket is in use). A periodic sweep, not a timer per preview, finds
// the ones past the timeout.
export class IdleClock {
  private readonly lastActive = new Map<string, number>();
  private readonly sockets = new Map<string, number>();
  private readonly dirty = new Set<string>();

  constructor(private readonly now: () => number = Date.now) {}

  touch(id: string): void {
    this.lastActive.set(id, this.now());
    this.dirty.add(id);
  }

  socketOpened(id: string): void {
    this.sockets.set(id, (this.sockets.get(id) ?? 0) + 1);
    this.touch(id);
  }

  socketClosed(id: string): void {
    const n = (this.sockets.get(id) ?? 1) - 1;
    if (n <= 0) this.sockets.delete(id);
    else this.sockets.set(id, n);
    this.touch(id);
  }

  lastActiveAt(id: string): number | undefined {
    return this.lastActive.get(id);
  }

  /** Ids idle for at least `ms`, skipping those with open sockets. */
  idleFor(ms: number, ids: Iterable<string>): string[] {
    const cutoff = this.now() - ms;
    const out: string[] = [];
    for (const id of ids) {
      if (this.sockets.has(id)) continue;
      const t = this.lastActive.get(id);
      if (t !== undefined && t <= cutoff) out.push(id);
    }
    return out;
  }

  /** Ids touched since the last call, with their times (for a batched write to the store). */
  takeDirty(): Array<[string, Date]> {
    const out: Array<[string, Date]> = [];
    for (const id of this.dirty) {
      const t = this.lastActive.get(id);
      if (t !== undefined) out.push([id, new Date(t)]);
    }
    this.dirty.clear();
    return out;
  }

  forget(id: string): void {
    this.lastActive.delete(id);
    this.sockets.delete(id);
    this.dirty.delete(id);
  }
}
