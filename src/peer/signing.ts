// Authentication of node-to-node HTTP (forwarded previews and remote API
// calls): HMAC-SHA256 keyed by PREVIEWD_CLUSTER_SECRET over the sender, the
// kind of call, what it targets, a timestamp and a nonce. A stale timestamp
// (> 30 s skew) or a nonce seen before is refused: a captured request cannot
// be replayed. Bodies are not signed (they stream); the peer network is
// private, and TLS between nodes is the place to protect them in transit.
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

export const MAX_SKEW_MS = 30_000;
export type PeerKind = "proxy" | "api";

const H = { node: "x-previewd-node", kind: "x-previewd-kind", ts: "x-previewd-ts", nonce: "x-previewd-nonce", sig: "x-previewd-sig", host: "x-previewd-host" } as const;
/** The preview host a forwarded request was for (WebSocket clients may not keep a custom Host header). */
export const PEER_HOST_HEADER = H.host;
export const PEER_HEADERS = Object.values(H);

function mac(secret: string, parts: string[]): Buffer {
  return createHmac("sha256", secret).update(parts.join("\n")).digest();
}

/** Headers that authenticate one call from `node` of `kind` to `target` (the Host for proxy calls, the path for API calls). */
export function signHeaders(secret: string, node: string, kind: PeerKind, target: string, now = Date.now()): Record<string, string> {
  const ts = String(now);
  const nonce = randomBytes(12).toString("base64url");
  const sig = mac(secret, [node, kind, target, ts, nonce]).toString("base64url");
  const headers: Record<string, string> = { [H.node]: node, [H.kind]: kind, [H.ts]: ts, [H.nonce]: nonce, [H.sig]: sig };
  if (kind === "proxy") headers[H.host] = target;
  return headers;
}

export type Refusal = "unsigned" | "forged" | "stale" | "replayed";

/** Checks peer headers; remembers nonces for the skew window. */
export class PeerVerifier {
  private readonly seen = new Map<string, number>();
  readonly refused: Record<Refusal, number> = { unsigned: 0, forged: 0, stale: 0, replayed: 0 };
  private lastSweep = 0;

  constructor(private readonly secret: string, private readonly now: () => number = Date.now) {}

  /** The verified sender and kind, or the reason it was refused (also counted). */
  verify(headers: Headers, targetOf: (kind: PeerKind) => string): { node: string; kind: PeerKind } | { refused: Refusal } {
    const get = (h: string) => headers.get(h) ?? "";
    const [node, kind, ts, nonce, sig] = [get(H.node), get(H.kind), get(H.ts), get(H.nonce), get(H.sig)];
    if (!this.secret || !node || !sig || !nonce || (kind !== "proxy" && kind !== "api")) return this.refuse("unsigned");
    const expected = mac(this.secret, [node, kind, targetOf(kind), ts, nonce]);
    const given = Buffer.from(sig, "base64url");
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return this.refuse("forged");
    const now = this.now();
    if (!(Math.abs(now - Number(ts)) <= MAX_SKEW_MS)) return this.refuse("stale");
    if (this.seen.has(nonce)) return this.refuse("replayed");
    // Past ts + skew a replay is refused as stale, so the nonce can be forgotten then.
    this.seen.set(nonce, Number(ts) + MAX_SKEW_MS);
    this.sweep(now);
    return { node, kind };
  }

  private refuse(r: Refusal): { refused: Refusal } {
    this.refused[r]++;
    return { refused: r };
  }

  /** Forgets nonces whose timestamps would be refused as stale anyway. */
  private sweep(now: number): void {
    if (now - this.lastSweep < 1000) return;
    this.lastSweep = now;
    for (const [nonce, until] of this.seen) if (until < now) this.seen.delete(nonce);
  }
}

/** Drops peer headers a client might have sent to impersonate a node. */
export function stripPeerHeaders(headers: Headers): void {
  for (const h of PEER_HEADERS) headers.delete(h);
}
