// Railway's public GraphQL API over HTTP (reference: shared/reference/
// fly-railway-api.md Part 2). One POST per operation to RAILWAY_API_URL.
// - Errors arrive with HTTP 200 as {"errors": [{"message"}], "data": null}:
//   they become RailwayError carrying Railway's own message.
// - 429 carries Retry-After in seconds ("Backboard sets Retry-After on every
//   429", railwayapp/cli client.rs): wait that long and try again, a bounded
//   number of times.
// - Every call has a deadline; the source upload (not GraphQL: what
//   `railway up` posts) a long one, because it answers slowly.
import type { Logger } from "../../log.ts";

export class RailwayError extends Error {
  constructor(message: string, readonly kind: "graphql" | "http" | "timeout" | "rate_limited" | "network", readonly status?: number) {
    super(message);
    this.name = "RailwayError";
  }
}

export interface RailwayClientOptions {
  apiUrl: string;
  token: string;
  /** Project tokens go in Project-Access-Token; account and workspace tokens as Bearer. */
  tokenKind?: "bearer" | "project";
  timeoutMs?: number;
  uploadTimeoutMs?: number;
  /** Attempts after a 429 (each waits Retry-After, capped). */
  maxRateLimitRetries?: number;
  log?: Logger;
  /** Test hook: the cap on one Retry-After wait. */
  maxRetryAfterMs?: number;
}

export interface UpResponse {
  deploymentId: string;
  url?: string;
  logsUrl?: string;
  deploymentDomain?: string;
}

export class RailwayClient {
  private readonly timeoutMs: number;
  private readonly uploadTimeoutMs: number;

  constructor(private readonly o: RailwayClientOptions) {
    this.timeoutMs = o.timeoutMs ?? 30_000;
    this.uploadTimeoutMs = o.uploadTimeoutMs ?? 180_000;
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    const auth: Record<string, string> = this.o.tokenKind === "project" ? { "project-access-token": this.o.token } : { authorization: `Bearer ${this.o.token}` };
    return { ...auth, ...extra };
  }

  /** Runs one operation; returns `data`, or throws RailwayError with Railway's message. */
  async gql<T>(query: string, variables: Record<string, unknown> = {}, signal?: AbortSignal): Promise<T> {
    const body = JSON.stringify({ query, variables });
    const res = await this.send(this.o.apiUrl, { method: "POST", headers: this.headers({ "content-type": "application/json" }), body }, this.timeoutMs, signal);
    const text = await res.text();
    if (res.status !== 200) throw new RailwayError(`Railway answered HTTP ${res.status}: ${text.slice(0, 300)}`, "http", res.status);
    let parsed: { data?: T | null; errors?: { message?: string }[] };
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new RailwayError(`Railway answered with something that is not JSON: ${text.slice(0, 200)}`, "http", res.status);
    }
    if (parsed.errors?.length) throw new RailwayError(parsed.errors.map((e) => e.message ?? "unknown error").join("; "), "graphql");
    if (parsed.data == null) throw new RailwayError("Railway answered with no data and no error.", "graphql");
    return parsed.data;
  }

  /** The source upload of `railway up`: a gzipped tarball to /project/{p}/environment/{e}/up?serviceId=. */
  async upload(ids: { projectId: string; environmentId: string; serviceId: string }, tgz: Uint8Array, signal?: AbortSignal): Promise<UpResponse> {
    const url = new URL(`/project/${encodeURIComponent(ids.projectId)}/environment/${encodeURIComponent(ids.environmentId)}/up`, this.o.apiUrl);
    url.searchParams.set("serviceId", ids.serviceId);
    const res = await this.send(url.toString(), { method: "POST", headers: this.headers({ "content-type": "application/gzip" }), body: tgz }, this.uploadTimeoutMs, signal);
    const text = await res.text();
    if (res.status !== 200) {
      let message = text.slice(0, 300);
      try {
        message = (JSON.parse(text) as { message?: string }).message ?? message;
      } catch { /* not JSON: keep the text */ }
      throw new RailwayError(`Railway refused the source upload (HTTP ${res.status}): ${message}`, "http", res.status);
    }
    const up = JSON.parse(text) as UpResponse;
    if (typeof up.deploymentId !== "string") throw new RailwayError("Railway's upload answer has no deploymentId.", "http", res.status);
    return up;
  }

  private async send(url: string, init: RequestInit, timeoutMs: number, outer?: AbortSignal): Promise<Response> {
    const retries = this.o.maxRateLimitRetries ?? 5;
    for (let attempt = 0; ; attempt++) {
      const signal = outer ? AbortSignal.any([outer, AbortSignal.timeout(timeoutMs)]) : AbortSignal.timeout(timeoutMs);
      let res: Response;
      try {
        res = await fetch(url, { ...init, signal });
      } catch (e) {
        if (outer?.aborted) throw e;
        if ((e as Error).name === "TimeoutError") throw new RailwayError(`Railway did not answer within ${Math.round(timeoutMs / 1000)} s.`, "timeout");
        throw new RailwayError(`Railway could not be reached: ${(e as Error).message}`, "network");
      }
      if (res.status !== 429) return res;
      await res.body?.cancel();
      const waitMs = Math.min(retryAfterMs(res.headers.get("retry-after")), this.o.maxRetryAfterMs ?? 60_000);
      if (attempt >= retries) throw new RailwayError(`Railway rate-limited the daemon ${attempt + 1} times in a row (HTTP 429).`, "rate_limited", 429);
      this.o.log?.warn({ waitMs, attempt }, "railway rate limit: waiting Retry-After");
      await Bun.sleep(waitMs);
      if (outer?.aborted) throw outer.reason;
    }
  }
}

/** Retry-After in seconds (Railway's form) or an HTTP date; 5 s when absent or unreadable. */
export function retryAfterMs(v: string | null): number {
  if (!v) return 5000;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? 5000 : Math.max(0, at - Date.now());
}
