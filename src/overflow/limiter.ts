// A client-side token bucket per key (action + machine or app), so previewd
// never sends what Fly's own limiter would refuse. Fly documents (reference
// §1.3): "1 req/s per action (Create Machine, Start Machine, …), burst up to
// 3 req/s per action. Get Machine: 5 req/s, burst 10", per Machine ID or App ID.
//
// Reservation style: each take() spends a token at once, possibly going into
// debt, and waits until that debt is paid back by the refill. Callers of one
// key are thus served in order, concurrency-safe in one JS thread, with no
// queue or timer per key.

export interface RateRule {
  /** Sustained requests per second. */
  ratePerSec: number;
  /** Requests allowed back to back from a full bucket. */
  burst: number;
}

/** Fly's documented limits; `default` is every action not named. */
export const FLY_LIMITS: Record<"default" | "get", RateRule> = {
  default: { ratePerSec: 1, burst: 3 },
  get: { ratePerSec: 5, burst: 10 },
};

export interface LimiterOptions {
  /**
   * We refill this much slower than the published rate: requests leave here
   * a few ms apart but may reach Fly's limiter closer together (network
   * jitter), and a 429 costs more than 10% of throughput. 1.1 by default.
   */
  margin?: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<unknown>;
}

interface Bucket {
  tokens: number;
  at: number;
  rule: RateRule;
}

export class KeyedRateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly margin: number;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<unknown>;

  constructor(o: LimiterOptions = {}) {
    this.margin = o.margin ?? 1.1;
    this.now = o.now ?? Date.now;
    this.sleep = o.sleep ?? Bun.sleep;
  }

  /** Milliseconds the caller must wait before sending (0: now); the token is spent either way. */
  reserve(key: string, rule: RateRule): number {
    const now = this.now();
    const perMs = rule.ratePerSec / 1000 / this.margin;
    let b = this.buckets.get(key);
    if (!b) {
      if (this.buckets.size > 1000) this.sweep(now);
      b = { tokens: rule.burst, at: now, rule };
      this.buckets.set(key, b);
    }
    b.tokens = Math.min(rule.burst, b.tokens + (now - b.at) * perMs);
    b.at = now;
    b.tokens -= 1;
    return b.tokens >= 0 ? 0 : Math.ceil(-b.tokens / perMs);
  }

  async take(key: string, rule: RateRule): Promise<void> {
    const wait = this.reserve(key, rule);
    if (wait > 0) await this.sleep(wait);
  }

  /** Forgets buckets that have refilled completely (a destroyed machine's keys, mostly). */
  private sweep(now: number): void {
    for (const [key, b] of this.buckets) {
      const perMs = b.rule.ratePerSec / 1000 / this.margin;
      if (b.tokens + (now - b.at) * perMs >= b.rule.burst) this.buckets.delete(key);
    }
  }
}
