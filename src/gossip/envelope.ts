// Every gossip datagram is signed: HMAC-SHA256 over a timestamp, a nonce and
// the body, keyed by PREVIEWD_CLUSTER_SECRET. Unsigned, forged, stale (more
// than 30 s of skew) and replayed datagrams are dropped and counted.
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

export const MAX_SKEW_MS = 30_000;
export type Drop = "unsigned" | "forged" | "stale" | "replayed";

const enc = new TextEncoder();
const dec = new TextDecoder();

export class Envelope {
  readonly dropped: Record<Drop, number> = { unsigned: 0, forged: 0, stale: 0, replayed: 0 };
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

  private drop(why: Drop): undefined {
    this.dropped[why]++;
    return undefined;
  }
}
