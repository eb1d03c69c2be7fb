// The idle clock, as sablier keeps it: a last-active time per preview that each
// proxied request renews, plus a count of what is open on it: WebSockets and
// HTTP requests in flight (an SSE stream, a long poll, a slow download or
// upload). A preview with anything open is in use; its clock starts when the
// last one ends. A periodic sweep, not a timer per preview, finds the ones
// past the timeout.
export class IdleClock {
  private readonly lastActive = new Map<string, number>();
  /** Open WebSockets plus requests in flight, per preview. */
  private readonly open = new Map<string, number>();
  private readonly dirty = new Set<string>();

  constructor(private readonly now: () => number = Date.now) {}

  touch(id: string): void {
    this.lastActive.set(id, this.now());
    this.dirty.add(id);
  }

  socketOpened(id: string): void {
    this.opened(id);
  }

  socketClosed(id: string): void {
    this.closed(id);
  }

  /** A proxied request began: it counts as an open socket until its response has ended. */
  requestStarted(id: string): void {
    this.opened(id);
  }

  requestEnded(id: string): void {
    this.closed(id);
  }

  /** A poll (polls.ts) began: open while in flight (never paused under it), but it renews nothing. */
  pollStarted(id: string): void {
    this.opened(id, false);
  }

  pollEnded(id: string): void {
    this.closed(id, false);
  }

  private opened(id: string, renews = true): void {
    this.open.set(id, (this.open.get(id) ?? 0) + 1);
    if (renews) this.touch(id);
  }

  private closed(id: string, renews = true): void {
    const n = (this.open.get(id) ?? 1) - 1;
    if (n <= 0) this.open.delete(id);
    else this.open.set(id, n);
    if (renews) this.touch(id);
  }

  /** An open socket or a request in flight. */
  busy(id: string): boolean {
    return this.open.has(id);
  }

  lastActiveAt(id: string): number | undefined {
    return this.lastActive.get(id);
  }

  /** Ids idle for at least `ms`, skipping those with an open socket or a request in flight. */
  idleFor(ms: number, ids: Iterable<string>): string[] {
    const cutoff = this.now() - ms;
    const out: string[] = [];
    for (const id of ids) {
      if (this.open.has(id)) continue;
      const t = this.lastActive.get(id);
      if (t !== undefined && t <= cutoff) out.push(id);
    }
    return out;
  }

  /** Puts an id back among the touched ones (its write to the store failed: the next flush tries again). */
  keepDirty(id: string): void {
    if (this.lastActive.has(id)) this.dirty.add(id);
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
    this.open.delete(id);
    this.dirty.delete(id);
  }
}
