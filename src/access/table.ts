// What every front needs to decide a request's access from memory: which
// previews are private, which shares are revoked, and the signer to check a
// cookie with. The main thread's copy is kept from the store by sync.ts
// (once a second) and by this node's own changes at once; front threads get
// a copy of it (snapshot/apply). A decision costs a Map lookup for a public
// preview; for a private one also a Cookie scan and, the first time a cookie
// is seen, an HMAC (verified cookies are cached with their expiry).
import { accessCookieOf } from "./cookie.ts";
import type { AccessSigner } from "./tokens.ts";

/** open: public; granted: private, with a valid cookie; denied: private, without; unknown: not in the table (look it up). */
export type Decision = "open" | "granted" | "denied" | "unknown";

/** The table as front threads receive it: [id, 1 when private] pairs, and revoked share ids. */
export interface AccessSnapshot {
  previews: Array<[string, 0 | 1]>;
  revoked: string[];
}

const MAX_CACHED = 50_000;

export class AccessTable {
  private priv = new Map<string, boolean>();
  private revoked = new Set<string>();
  /** Verified cookie values: `${previewId} ${value}` -> [shareId, expiry ms]. */
  private verified = new Map<string, [string, number]>();
  /** This node's own changes, kept over a snapshot read before they were made: id -> [private, when (ms)]. */
  private recent = new Map<string, [boolean, number]>();
  private recentRevoked = new Map<string, number>();
  /** Bumped whenever what a decision reads changes (front threads are sent a copy then). */
  version = 0;

  constructor(readonly signer: AccessSigner, private readonly now: () => number = Date.now) {}

  decide(id: string, cookieHeader: string | null | undefined): Decision {
    const p = this.priv.get(id);
    if (p === undefined) return "unknown";
    if (!p) return "open";
    return this.hasAccess(id, cookieHeader) ? "granted" : "denied";
  }

  /** Whether the request's access cookie is authentic, for this preview, unexpired and not revoked. */
  hasAccess(id: string, cookieHeader: string | null | undefined): boolean {
    const value = accessCookieOf(cookieHeader);
    if (!value) return false;
    const key = `${id} ${value}`;
    let hit = this.verified.get(key);
    if (!hit) {
      const c = this.signer.verifyCookie(id, value);
      if (!c) return false;
      hit = [c.shareId, c.exp * 1000];
      if (this.verified.size >= MAX_CACHED) this.verified.clear();
      this.verified.set(key, hit);
    }
    return hit[1] > this.now() && !this.revoked.has(hit[0]);
  }

  isRevoked(shareId: string): boolean {
    return this.revoked.has(shareId);
  }

  /** Known visibility of a preview: true private, false public, undefined not in the table. */
  isPrivate(id: string): boolean | undefined {
    return this.priv.get(id);
  }

  /** A change made on this node (or read for one preview): in effect at once. */
  set(id: string, isPrivate: boolean): void {
    this.recent.set(id, [isPrivate, this.now()]);
    if (this.priv.get(id) === isPrivate) return;
    this.priv.set(id, isPrivate);
    this.version++;
  }

  revoke(shareId: string): void {
    this.recentRevoked.set(shareId, this.now());
    if (this.revoked.has(shareId)) return;
    this.revoked.add(shareId);
    this.version++;
  }

  /**
   * The whole table from the store, read starting at `readAt` (ms): it
   * replaces this one, but for this node's own changes made after the read
   * began (the read could not see them). Previews gone from the store leave
   * the table (unknown: the next request looks them up).
   */
  replace(previews: Iterable<[string, boolean]>, revoked: Iterable<string>, readAt: number): void {
    const next = new Map(previews);
    for (const [id, [p, at]] of this.recent) {
      if (at >= readAt) next.set(id, p);
      else this.recent.delete(id);
    }
    const nextRevoked = new Set(revoked);
    for (const [sid, at] of this.recentRevoked) {
      if (at >= readAt) nextRevoked.add(sid);
      else this.recentRevoked.delete(sid);
    }
    if (!sameMap(next, this.priv) || !sameSet(nextRevoked, this.revoked)) this.version++;
    this.priv = next;
    this.revoked = nextRevoked;
  }

  snapshot(): AccessSnapshot {
    return { previews: [...this.priv].map(([id, p]) => [id, p ? 1 : 0]), revoked: [...this.revoked] };
  }

  /** A front thread's copy, replaced whole. */
  apply(s: AccessSnapshot): void {
    this.priv = new Map(s.previews.map(([id, p]) => [id, p === 1]));
    this.revoked = new Set(s.revoked);
    this.version++;
  }
}

function sameMap(a: Map<string, boolean>, b: Map<string, boolean>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}

function sameSet(a: Set<string>, b: Set<string>): boolean {
  if (a.size !== b.size) return false;
  for (const k of a) if (!b.has(k)) return false;
  return true;
}
