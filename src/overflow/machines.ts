// previewd's Fly Machines client (reference §1, superfly/docs machines/api,
// fly-go flaps/*). The daemon depends on the MachinesApi interface; this file
// is its HTTP implementation. Three policies live here and nowhere else:
//   - pacing: a token bucket per (action, machine or app) at Fly's published
//     limits (limiter.ts), so we never cause our own 429s;
//   - retries: 429 and 5xx with exponential backoff + jitter, Retry-After
//     honoured, a bounded number of attempts; creates only when safe;
//   - region fallback: insufficient_capacity on create tries the next region.
import type { Logger } from "../log.ts";
import type { MachineConfig } from "./config.ts";
import { METADATA } from "./config.ts";
import { FlyApiError, FlyCapacityError, flyApiError } from "./errors.ts";
import { FLY_LIMITS, KeyedRateLimiter, type RateRule } from "./limiter.ts";

export { FlyApiError, FlyCapacityError } from "./errors.ts";

export type MachineState =
  | "created" | "starting" | "started" | "stopping" | "stopped" | "suspending" | "suspended"
  | "restarting" | "updating" | "replacing" | "destroying" | "destroyed" | "failed" | "launch_failed";

/** The Machine object (reference §1.5 "Full Machine fields"); only what we read is typed. */
export interface Machine {
  id: string;
  name: string;
  state: MachineState | (string & {});
  region: string;
  instance_id: string;
  version?: string;
  private_ip?: string;
  config: MachineConfig;
  created_at: string;
  updated_at?: string;
  events?: Array<{ type: string; status: string; source?: string; timestamp: number }>;
}

export interface App {
  id?: string;
  name: string;
  status?: string;
  organization?: { name?: string; slug?: string };
}

export type WaitState = "started" | "stopped" | "suspended" | "destroyed" | "failed" | "settled";

/** What the daemon needs from Fly. Tests and other adapters may implement it. */
export interface MachinesApi {
  readonly app: string;
  ensureApp(): Promise<App>;
  createMachine(config: MachineConfig, opts?: { region?: string; name?: string }): Promise<Machine>;
  waitFor(id: string, state: WaitState, opts?: { instanceId?: string; timeoutS?: number }): Promise<void>;
  get(id: string): Promise<Machine>;
  list(filter?: { metadata?: Record<string, string>; state?: string[]; region?: string }): Promise<Machine[]>;
  start(id: string): Promise<void>;
  stop(id: string, opts?: { signal?: string; timeout?: string }): Promise<void>;
  suspend(id: string): Promise<void>;
  destroy(id: string, opts?: { force?: boolean }): Promise<void>;
}

export interface RetryPolicy {
  /** Attempts per call, the first included. */
  attempts: number;
  baseMs: number;
  capMs: number;
  /** A Retry-After longer than this ends the call instead of sleeping through it. */
  maxRetryAfterMs: number;
}

export interface FlyMachinesOptions {
  /** Default https://api.machines.dev; every path goes under /v1 (fly-go does the same). */
  apiUrl?: string;
  token: string;
  app: string;
  /** Org for ensureApp's create; Fly's default personal org slug is "personal". */
  orgSlug?: string;
  /** Regions to create in, in order of preference; empty: Fly picks (near the API endpoint). */
  regions: string[];
  /** Per HTTP request (wait long-polls get their own timeout on top). Default 30 s. */
  timeoutMs?: number;
  log?: Logger;
  retry?: Partial<RetryPolicy>;
  limiter?: KeyedRateLimiter;
  fetch?: typeof fetch;
}

const DEFAULT_RETRY: RetryPolicy = { attempts: 4, baseMs: 250, capMs: 4000, maxRetryAfterMs: 30_000 };
const MACAROON = /^(fm1r|fm1a|fm2)_/;

/**
 * The Authorization header value for a Fly token (fly-go tokens.go): macaroons
 * (parts fm1r_/fm1a_/fm2_, comma-joined) go as `FlyV1 <token>`, anything else
 * as `Bearer <token>`; a token that already names its scheme is sent as given.
 */
export function authorizationHeader(token: string): string {
  const t = token.trim();
  const scheme = /^(bearer|flyv1)\s+/i.exec(t);
  if (scheme) return `${scheme[1]!.toLowerCase() === "flyv1" ? "FlyV1" : "Bearer"} ${t.slice(scheme[0].length).trim()}`;
  const parts = t.split(",").map((p) => p.trim());
  return parts.some((p) => MACAROON.test(p)) ? `FlyV1 ${t}` : `Bearer ${t}`;
}

interface Call {
  method: "GET" | "POST" | "DELETE";
  path: string;
  query?: URLSearchParams;
  body?: unknown;
  /** Rate-limit bucket: action name + machine id or app name. */
  action: string;
  scope: string;
  /** May a 5xx or a lost connection be retried? (429 always may: Fly refused it before doing anything.) */
  idempotent: boolean;
  /** Extra time for long polls (wait). */
  extraTimeoutMs?: number;
  /** Called before retrying a non-idempotent call after a 5xx: a value ends the call with it. */
  recover?: () => Promise<unknown>;
}

export class FlyMachines implements MachinesApi {
  readonly app: string;
  private readonly base: string;
  private readonly auth: string;
  private readonly retry: RetryPolicy;
  private readonly limiter: KeyedRateLimiter;
  private readonly timeoutMs: number;
  private readonly fetch: typeof fetch;

  constructor(private readonly o: FlyMachinesOptions) {
    if (!o.token) throw new Error("FLY_API_TOKEN is empty");
    if (!/^[a-z0-9-]+$/.test(o.app)) throw new Error(`FLY_APP must be a Fly app name ([a-z0-9-]), got ${JSON.stringify(o.app)}`);
    this.app = o.app;
    this.base = `${(o.apiUrl ?? "https://api.machines.dev").replace(/\/+$/, "")}/v1`;
    this.auth = authorizationHeader(o.token);
    this.retry = { ...DEFAULT_RETRY, ...o.retry };
    this.limiter = o.limiter ?? new KeyedRateLimiter();
    this.timeoutMs = o.timeoutMs ?? 30_000;
    this.fetch = o.fetch ?? fetch;
  }

  private get machinesPath(): string {
    return `/apps/${encodeURIComponent(this.app)}/machines`;
  }

  /**
   * Makes sure the app exists and answers at {app}.fly.dev: an app created
   * through the Machines API has no IP until one is assigned (reference §1.9),
   * so a shared IPv4 (free) and an IPv6 are assigned when it has no public one.
   */
  async ensureApp(): Promise<App> {
    const app = await this.ensureAppRecord();
    await this.ensurePublicIps();
    return app;
  }

  private async ensurePublicIps(): Promise<void> {
    const path = `/apps/${this.app}/ip_assignments`;
    const publicIps = async () =>
      (await this.call<{ ips?: Array<{ ip: string }> }>({ method: "GET", path, action: "ip_list", scope: this.app, idempotent: true })).ips?.filter(
        (x) => !x.ip.startsWith("fdaa:"), // fdaa: is private (6PN/Flycast)
      ) ?? [];
    if ((await publicIps()).length > 0) return;
    for (const type of ["shared_v4", "v6"]) {
      this.o.log?.info({ app: this.app, type }, "assigning a public IP to the Fly app");
      await this.call({
        method: "POST", path, body: { type }, action: "ip_assign", scope: this.app, idempotent: false,
        recover: async () => ((await publicIps().catch(() => [])).length > 0 ? true : undefined),
      });
    }
  }

  private async ensureAppRecord(): Promise<App> {
    const get = () => this.call<App>({ method: "GET", path: `/apps/${this.app}`, action: "app_get", scope: this.app, idempotent: true });
    try {
      return await get();
    } catch (e) {
      if (!(e instanceof FlyApiError) || e.status !== 404) throw e;
    }
    const org = this.o.orgSlug ?? "personal";
    this.o.log?.info({ app: this.app, org }, "creating Fly app");
    try {
      // `name` as the current spec and fly-go send it (the docs' curl example says app_name; the fake takes both).
      // A 5xx is not retried blindly: recover() looks the app up first (a create that landed answers the GET).
      await this.call({
        method: "POST", path: "/apps", body: { name: this.app, org_slug: org }, action: "app_create", scope: org, idempotent: false,
        recover: () => get().catch(() => undefined),
      });
    } catch (e) {
      // Name taken: ours if our token can read it (docs warm-pool blueprint), else a clear error from the GET.
      if (!(e instanceof FlyApiError) || e.code !== "name_taken") throw e;
    }
    return get();
  }

  /**
   * Creates (and boots) a machine, trying `opts.region` then each of `regions`
   * in order while Fly answers insufficient_capacity.
   *
   * Retrying a create is unsafe in general: a 5xx may come after the machine
   * was made. A 429 is always safe (refused before any work). For a 5xx we
   * look for the machine first, by its previewd_preview metadata (unique per
   * preview; list filters on it server-side): found, it is the result; not
   * found, the create is sent again. Without that metadata a 5xx is final.
   */
  async createMachine(config: MachineConfig, opts: { region?: string; name?: string } = {}): Promise<Machine> {
    const regions = [...new Set([opts.region, ...this.o.regions].filter((r): r is string => !!r))];
    const tried: string[] = [];
    const causes: FlyApiError[] = [];
    const previewId = config.metadata?.[METADATA.preview];
    for (const region of regions.length > 0 ? regions : [undefined]) {
      const body: Record<string, unknown> = { config };
      if (region) body.region = region;
      if (opts.name) body.name = opts.name;
      try {
        return await this.call<Machine>({
          method: "POST", path: this.machinesPath, body, action: "create", scope: this.app, idempotent: false,
          recover: previewId
            ? async () => (await this.list({ metadata: { [METADATA.preview]: previewId } }).catch(() => []))[0]
            : undefined,
        });
      } catch (e) {
        if (!(e instanceof FlyApiError) || e.code !== "insufficient_capacity") throw e;
        tried.push(region ?? "default");
        causes.push(e);
        this.o.log?.warn({ region, requestId: e.requestId }, "Fly has no capacity in this region; trying the next");
      }
    }
    throw new FlyCapacityError(tried, causes);
  }

  /**
   * Waits until the machine reaches `state`. Fly caps one wait at 60 s and
   * answers 408 past it, so a longer wait is several long polls.
   */
  async waitFor(id: string, state: WaitState, opts: { instanceId?: string; timeoutS?: number } = {}): Promise<void> {
    const deadline = Date.now() + (opts.timeoutS ?? 60) * 1000;
    // The docs make instance_id required when waiting for `stopped`: use the current one.
    const instanceId = opts.instanceId ?? (state === "stopped" ? (await this.get(id)).instance_id : undefined);
    for (;;) {
      const left = Math.max(1, Math.min(60, Math.ceil((deadline - Date.now()) / 1000)));
      const query = new URLSearchParams({ state, timeout: String(left) });
      // `version` is the current name (spec, fly-go); `instance_id` its documented alias.
      if (instanceId) query.set("version", instanceId);
      try {
        await this.call({
          method: "GET", path: `${this.machinesPath}/${id}/wait`, query, action: "wait", scope: id, idempotent: true,
          extraTimeoutMs: left * 1000,
        });
        return;
      } catch (e) {
        if (!(e instanceof FlyApiError) || e.status !== 408 || Date.now() >= deadline - 500) throw e;
      }
    }
  }

  get(id: string): Promise<Machine> {
    return this.call<Machine>({ method: "GET", path: `${this.machinesPath}/${id}`, action: "get", scope: id, idempotent: true });
  }

  /**
   * Machines of the app. `metadata` filters server-side (`metadata.{key}=value`,
   * repeatable, AND: docs machines-resource "List Machines", spec) and is
   * checked again here, so an API that ignored the parameter cannot hand us
   * another preview's machine.
   */
  async list(filter: { metadata?: Record<string, string>; state?: string[]; region?: string } = {}): Promise<Machine[]> {
    const query = new URLSearchParams();
    for (const [k, v] of Object.entries(filter.metadata ?? {})) query.append(`metadata.${k}`, v);
    if (filter.state?.length) query.set("state", filter.state.join(","));
    if (filter.region) query.set("region", filter.region);
    const all = await this.call<Machine[]>({ method: "GET", path: this.machinesPath, query, action: "list", scope: this.app, idempotent: true });
    return all.filter((m) =>
      Object.entries(filter.metadata ?? {}).every(([k, v]) => m.config?.metadata?.[k] === v),
    );
  }

  // start/stop/suspend are safe to repeat: the second one finds the state reached.
  async start(id: string): Promise<void> {
    await this.call({ method: "POST", path: `${this.machinesPath}/${id}/start`, action: "start", scope: id, idempotent: true });
  }

  async stop(id: string, opts: { signal?: string; timeout?: string } = {}): Promise<void> {
    const body = opts.signal || opts.timeout ? opts : undefined;
    await this.call({ method: "POST", path: `${this.machinesPath}/${id}/stop`, body, action: "stop", scope: id, idempotent: true });
  }

  async suspend(id: string): Promise<void> {
    await this.call({ method: "POST", path: `${this.machinesPath}/${id}/suspend`, action: "suspend", scope: id, idempotent: true });
  }

  /** Destroys the machine; `force` kills it if running (docs `?force=true`; fly-go sends `kill=true`). */
  async destroy(id: string, opts: { force?: boolean } = {}): Promise<void> {
    const query = opts.force ? new URLSearchParams({ force: "true" }) : undefined;
    let retried = false;
    try {
      await this.call({
        method: "DELETE", path: `${this.machinesPath}/${id}`, query, action: "destroy", scope: id, idempotent: true,
        recover: async () => void (retried = true),
      });
    } catch (e) {
      // A 404 after a 5xx: the first attempt did destroy it.
      if (!(retried && e instanceof FlyApiError && e.status === 404)) throw e;
    }
  }

  /** One API call with pacing, retries and typed errors. */
  private async call<T>(c: Call): Promise<T> {
    const url = `${this.base}${c.path}${c.query?.size ? `?${c.query}` : ""}`;
    const what = `${c.method} ${c.path}`;
    const rule: RateRule = c.action === "get" ? FLY_LIMITS.get : FLY_LIMITS.default;
    let last: FlyApiError | undefined;
    for (let attempt = 1; ; attempt++) {
      await this.limiter.take(`${c.action}:${c.scope}`, rule);
      let res: Response;
      try {
        res = await this.fetch(url, {
          method: c.method,
          headers: { authorization: this.auth, accept: "application/json", ...(c.body !== undefined ? { "content-type": "application/json" } : {}) },
          body: c.body !== undefined ? JSON.stringify(c.body) : undefined,
          signal: AbortSignal.timeout(this.timeoutMs + (c.extraTimeoutMs ?? 0)),
        });
      } catch (e) {
        // No answer (reset, timeout): the call may or may not have been done.
        last = new FlyApiError(0, "network", `Fly API ${what}: no answer (${(e as Error).message})`, undefined);
        if (c.recover) {
          const found = await c.recover();
          if (found !== undefined) return found as T;
        } else if (!c.idempotent) throw last;
        if (attempt >= this.retry.attempts) throw last;
        await Bun.sleep(this.backoff(attempt));
        continue;
      }
      const requestId = res.headers.get("fly-request-id") ?? undefined;
      const text = await res.text();
      if (res.ok) return (text ? JSON.parse(text) : undefined) as T;
      last = flyApiError(res.status, text, requestId, what);
      const retryable = res.status === 429 || (res.status >= 500 && last.code !== "insufficient_capacity");
      if (!retryable) throw last;
      if (res.status !== 429 && c.recover) {
        // Even on the last attempt: a create that landed is a success, not an error.
        const found = await c.recover();
        if (found !== undefined) return found as T;
      } else if (res.status !== 429 && !c.idempotent) {
        throw last;
      }
      if (attempt >= this.retry.attempts) throw last;
      const after = retryAfterMs(res.headers.get("retry-after"));
      if (after !== undefined && after > this.retry.maxRetryAfterMs) throw last;
      const delay = Math.max(after ?? 0, this.backoff(attempt));
      this.o.log?.warn({ status: res.status, requestId, attempt, delayMs: delay, call: what }, "Fly API call failed; retrying");
      await Bun.sleep(delay);
    }
  }

  /** Exponential backoff with "equal jitter": half fixed, half random, so retries of many callers spread out. */
  private backoff(attempt: number): number {
    const d = Math.min(this.retry.capMs, this.retry.baseMs * 2 ** (attempt - 1));
    return d / 2 + Math.random() * (d / 2);
  }
}

/** Retry-After as delta-seconds or an HTTP date (RFC 9110 §10.2.3), in ms. */
export function retryAfterMs(v: string | null): number | undefined {
  if (!v) return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}
