// The transport every call goes through: base URL, bearer token, extra
// headers and an injectable fetch (a host app's proxy, a test's wrapper, a
// runtime without a global fetch). It turns every failure into a
// PreviewdError so callers have one thing to catch.
import { errorFromResponse, isAbort, networkError } from "./errors.js";

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

export interface ClientOptions {
  /** The control API, e.g. "http://127.0.0.1:8081", or the host app's proxy to it. */
  baseUrl: string;
  /** Bearer token: the API token (servers only) or a scoped token (browsers). */
  token?: string;
  fetch?: FetchLike;
  /** Sent with every request (e.g. a host app's own session header). */
  headers?: Record<string, string>;
}

export interface RequestOptions {
  body?: unknown;
  query?: Record<string, string | number | boolean | undefined>;
  signal?: AbortSignal;
  accept?: string;
}

export class Http {
  readonly options: ClientOptions;
  private readonly base: string;
  private readonly fetchFn: FetchLike;

  constructor(options: ClientOptions) {
    this.options = options;
    this.base = options.baseUrl.replace(/\/+$/, "");
    if (!options.fetch && typeof globalThis.fetch !== "function") throw new TypeError("previewd: no fetch available; pass options.fetch");
    // Bound so a global fetch is not called with the client as `this` (browsers reject that).
    this.fetchFn = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  }

  url(path: string, query?: RequestOptions["query"]): string {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) q.set(k, String(v));
    const qs = q.toString();
    return `${this.base}${path}${qs ? `?${qs}` : ""}`;
  }

  /** The response of a 2xx answer; anything else rejects with PreviewdError. */
  async send(method: string, path: string, o: RequestOptions = {}): Promise<Response> {
    const headers: Record<string, string> = { accept: o.accept ?? "application/json", ...this.options.headers };
    if (this.options.token) headers.authorization = `Bearer ${this.options.token}`;
    let body: string | undefined;
    if (o.body !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(o.body);
    }
    let res: Response;
    try {
      res = await this.fetchFn(this.url(path, o.query), { method, headers, body, signal: o.signal });
    } catch (e) {
      if (isAbort(e, o.signal)) throw e;
      throw networkError(e);
    }
    if (!res.ok) throw await errorFromResponse(res);
    return res;
  }

  async json<T>(method: string, path: string, o: RequestOptions = {}): Promise<T> {
    const res = await this.send(method, path, o);
    try {
      return (await res.json()) as T;
    } catch (e) {
      if (isAbort(e, o.signal)) throw e;
      throw networkError(e);
    }
  }
}
