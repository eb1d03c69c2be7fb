// Fly's per-action rate limit and the fake's fault injection.
//
// Limits (reference §1.3): 1 req/s per action, burst 3, per Machine ID or App
// ID; Get Machine 5 req/s, burst 10. Fly's answer body and headers when
// limited are UNCONFIRMED; we send 429 {"error": "rate limit exceeded"} and a
// Retry-After (a client must work with or without it).
//
// Faults let a test make the next N calls of one action fail the way Fly
// fails: 429, a 500, or 503 insufficient_capacity (the shape in fly-go's
// flaps_error_test.go), optionally only for one region.

export type FaultKind = "rate_limit" | "http_500" | "insufficient_capacity" | "delay";
export interface Fault {
  kind: FaultKind;
  region?: string;
  /** kind "delay": the call is answered normally, this much later (a slow API; a daemon killed meanwhile). */
  ms?: number;
}

export interface Refusal {
  status: number;
  body: { error: string; status?: string };
  headers?: Record<string, string>;
}

interface Bucket {
  tokens: number;
  at: number;
}

export class RateLimits {
  private readonly buckets = new Map<string, Bucket>();
  constructor(private readonly enabled = true) {}

  /** A 429 when the (action, scope) bucket is empty, else undefined (and a token spent). */
  check(action: string, scope: string): Refusal | undefined {
    if (!this.enabled) return undefined;
    const { rate, burst } = action === "get" ? { rate: 5, burst: 10 } : { rate: 1, burst: 3 };
    const now = performance.now();
    const key = `${action}:${scope}`;
    const b = this.buckets.get(key) ?? { tokens: burst, at: now };
    b.tokens = Math.min(burst, b.tokens + ((now - b.at) / 1000) * rate);
    b.at = now;
    this.buckets.set(key, b);
    if (b.tokens < 1) {
      const wait = Math.ceil((1 - b.tokens) / rate);
      return { status: 429, body: { error: `rate limit exceeded for ${action} on ${scope}` }, headers: { "retry-after": String(wait) } };
    }
    b.tokens -= 1;
    return undefined;
  }
}

export class Faults {
  private readonly queue = new Map<string, Array<Fault & { left: number }>>();

  add(action: string, fault: Fault, times = 1): void {
    const list = this.queue.get(action) ?? [];
    list.push({ ...fault, left: times });
    this.queue.set(action, list);
  }

  /** The refusal for this call if a fault matches (spending one of its times). */
  take(action: string, region?: string): Refusal | { delayMs: number } | undefined {
    const list = this.queue.get(action);
    const f = list?.find((x) => x.left > 0 && (!x.region || x.region === region));
    if (!f) return undefined;
    f.left -= 1;
    if (f.kind === "delay") return { delayMs: f.ms ?? 1000 };
    if (f.kind === "rate_limit") return { status: 429, body: { error: `rate limit exceeded for ${action}` } };
    if (f.kind === "http_500") return { status: 500, body: { error: "internal error (injected)" } };
    return {
      status: 503,
      body: { error: `insufficient resources to create new machine with existing specs in ${region ?? "the default region"}`, status: "insufficient_capacity" },
    };
  }

  clear(): void {
    this.queue.clear();
  }
}
