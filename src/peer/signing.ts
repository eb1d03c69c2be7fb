// Authentication of node-to-node HTTP (forwarded previews and remote API
// calls): HMAC-SHA256 keyed by PREVIEWD_CLUSTER_SECRET over the sender, the
// recipient node, the kind of call, its method and target (the path for API
// calls, the preview host for proxied ones), the SHA-256 of an API call's body,
// a timestamp and a nonce. A stale timestamp (> 30 s skew) or a nonce seen
// before is refused; a signature is good for one call to one node only (a
// GET's signature cannot DELETE, nor be spent on another node). Proxied
// preview traffic streams: its method and body are not signed (it only ever
// reaches the preview's own app); TLS between nodes protects it in transit.
// The byte-level sibling hop (proxy/fast) signs the first request on each
// connection it opens to a sibling's peer port, and the peer front holds that
// connection as the sender's for its life: the rest of its requests are not
// signed (a TCP connection cannot be joined from outside it), and a first
// request that is unsigned, forged, stale or replayed gets 403 and the close.
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";

export const MAX_SKEW_MS = 30_000;
export type PeerKind = "proxy" | "api";

const H = { node: "x-previewd-node", kind: "x-previewd-kind", ts: "x-previewd-ts", nonce: "x-previewd-nonce", sig: "x-previewd-sig", host: "x-previewd-host" } as const;
/** The preview host a forwarded request was for (WebSocket clients may not keep a custom Host header). */
export const PEER_HOST_HEADER = H.host;
export const PEER_HEADERS = Object.values(H);
export const PEER_KIND_HEADER = H.kind;
export const PEER_SIG_HEADER = H.sig;

function mac(secret: string, parts: string[]): Buffer {
  return createHmac("sha256", secret).update(parts.join("\n")).digest();
}

/** What one signed call is: to which node, which method on which target, and (API calls) the SHA-256 of its body. */
export interface SignedCall {
  to: string;
  method: string;
  target: string;
  bodySha256?: string;
}

const parts = (from: string, kind: PeerKind, c: SignedCall, ts: string, nonce: string) => [from, c.to, kind, c.method, c.target, c.bodySha256 ?? "", ts, nonce];

export const sha256Hex = (data: string | ArrayBuffer | Uint8Array) => createHash("sha256").update(typeof data === "string" ? data : new Uint8Array(data)).digest("hex");

/** Headers that authenticate one call from node `from` of `kind`. */
export function signHeaders(secret: string, from: string, kind: PeerKind, call: SignedCall, now = Date.now()): Record<string, string> {
  const ts = String(now);
  const nonce = randomBytes(12).toString("base64url");
  const sig = mac(secret, parts(from, kind, call, ts, nonce)).toString("base64url");
  const headers: Record<string, string> = { [H.node]: from, [H.kind]: kind, [H.ts]: ts, [H.nonce]: nonce, [H.sig]: sig };
  if (kind === "proxy") headers[H.host] = call.target;
  return headers;
}

export type Refusal = "unsigned" | "forged" | "stale" | "replayed";

/** Checks peer headers; remembers nonces for the skew window. */
export class PeerVerifier {
  private readonly seen = new Map<string, number>();
  readonly refused: Record<Refusal, number> = { unsigned: 0, forged: 0, stale: 0, replayed: 0 };
  /** Signatures that held (a sibling hop's connection is signed once, not each request on it). */
  verified = 0;
  private lastSweep = 0;

  constructor(private readonly secret: string, private readonly now: () => number = Date.now) {}

  /** The verified sender and kind, or the reason it was refused (also counted). */
  verify(headers: Headers, callOf: (kind: PeerKind) => SignedCall): { node: string; kind: PeerKind } | { refused: Refusal } {
    return this.verifyFields((h) => headers.get(h) ?? undefined, callOf);
  }

  /** As verify, with the fields read by `field` (lowercased name): the byte-level front has no Headers. */
  verifyFields(field: (name: string) => string | undefined, callOf: (kind: PeerKind) => SignedCall): { node: string; kind: PeerKind } | { refused: Refusal } {
    const get = (h: string) => field(h) ?? "";
    const [node, kind, ts, nonce, sig] = [get(H.node), get(H.kind), get(H.ts), get(H.nonce), get(H.sig)];
    if (!this.secret || !node || !sig || !nonce || (kind !== "proxy" && kind !== "api")) return this.refuse("unsigned");
    const expected = mac(this.secret, parts(node, kind, callOf(kind), ts, nonce));
    const given = Buffer.from(sig, "base64url");
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return this.refuse("forged");
    const now = this.now();
    if (!(Math.abs(now - Number(ts)) <= MAX_SKEW_MS)) return this.refuse("stale");
    if (this.seen.has(nonce)) return this.refuse("replayed");
    // Past ts + skew a replay is refused as stale, so the nonce can be forgotten then.
    this.seen.set(nonce, Number(ts) + MAX_SKEW_MS);
    this.sweep(now);
    this.verified++;
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
