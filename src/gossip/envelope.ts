// Every gossip datagram is signed: HMAC-SHA256 over a timestamp, a nonce and
// the body, keyed by PREVIEWD_CLUSTER_SECRET. Unsigned, forged, stale (more
// than 30 s of skew) and replayed datagrams are dropped and counted.
//
// On the wire (udp.ts) the sealed datagram is also addressed: a first line
// `G1 <to> <from> <sig>` whose HMAC covers the recipient's address, the
// sender's advertised address and the sealed bytes (`address`/`route`). A
// datagram captured on its way to node A and replayed to node B is refused
// by B ("misaddressed"): the nonce alone only stopped a replay to A itself.
// The route is a layer of its own because the membership code (swim.ts)
// seals before it knows the wire; one HMAC more per datagram (~1 µs).
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";

export const MAX_SKEW_MS = 30_000;
export type Drop = "unsigned" | "forged" | "stale" | "replayed" | "misaddressed";
const ROUTE = "G1";

const enc = new TextEncoder();
const dec = new TextDecoder();

export class Envelope {
  readonly dropped: Record<Drop, number> = { unsigned: 0, forged: 0, stale: 0, replayed: 0, misaddressed: 0 };
  private readonly seen = new Map<string, number>();
  private lastSweep = 0;

  constructor(private readonly secret: string, private readonly now: () => number = Date.now) {}

  seal(body: unknown): Uint8Array {
    const ts = this.now();
    const nonce = randomBytes(9).toString("base64url");
    const json = JSON.stringify(body);
    const sig = createHmac("sha256", this.secret).update(`${ts}\n${nonce}\n${json}`).digest("base64url");
    return enc.encode(JSON.stringify({ ts, nonce, sig, body: json }));
  }

  /** The body, or undefined when the datagram is refused (and counted). */
  open(bytes: Uint8Array): unknown {
    let env: { ts?: number; nonce?: string; sig?: string; body?: string };
    try {
      env = JSON.parse(dec.decode(bytes));
    } catch {
      return this.drop("unsigned");
    }
    if (typeof env.sig !== "string" || typeof env.body !== "string" || typeof env.nonce !== "string" || typeof env.ts !== "number") return this.drop("unsigned");
    const expected = createHmac("sha256", this.secret).update(`${env.ts}\n${env.nonce}\n${env.body}`).digest();
    const given = Buffer.from(env.sig, "base64url");
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return this.drop("forged");
    const now = this.now();
    if (Math.abs(now - env.ts) > MAX_SKEW_MS) return this.drop("stale");
    if (this.seen.has(env.nonce)) return this.drop("replayed");
    this.seen.set(env.nonce, env.ts + MAX_SKEW_MS);
    if (now - this.lastSweep > 1000) {
      this.lastSweep = now;
      for (const [n, until] of this.seen) if (until < now) this.seen.delete(n);
    }
    return JSON.parse(env.body);
  }

  /**
   * Addresses a sealed datagram: `to` as the sender dials it, `from` the
   * sender's advertised address (where replies go), both under the HMAC.
   */
  address(to: string, from: string, sealed: Uint8Array): Uint8Array {
    if (/\s/.test(to) || /\s/.test(from)) throw new Error("gossip addresses have no spaces");
    const head = enc.encode(`${ROUTE} ${to} ${from} ${this.routeSig(to, from, sealed).toString("base64url")}\n`);
    const out = new Uint8Array(head.length + sealed.length);
    out.set(head);
    out.set(sealed, head.length);
    return out;
  }

  /**
   * The route of an addressed datagram, its signature checked (the caller
   * checks that `to` is itself, and refuses with `drop("misaddressed")`);
   * undefined when it has none or a forged one (counted).
   */
  route(bytes: Uint8Array): { to: string; from: string; sealed: Uint8Array } | undefined {
    const nl = bytes.indexOf(10);
    if (nl < 0 || nl > 600) return this.drop("unsigned");
    const [tag, to, from, sig, ...rest] = dec.decode(bytes.subarray(0, nl)).split(" ");
    if (tag !== ROUTE || !to || !from || !sig || rest.length) return this.drop("unsigned");
    const sealed = bytes.subarray(nl + 1);
    const expected = this.routeSig(to, from, sealed);
    const given = Buffer.from(sig, "base64url");
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return this.drop("forged");
    return { to, from, sealed };
  }

  private routeSig(to: string, from: string, sealed: Uint8Array): Buffer {
    // Domain-separated from the seal's own signature (which starts with a timestamp).
    const digest = createHash("sha256").update(sealed).digest("hex");
    return createHmac("sha256", this.secret).update(`route\n${to}\n${from}\n${digest}`).digest();
  }

  drop(why: Drop): undefined {
    this.dropped[why]++;
    return undefined;
  }
}
