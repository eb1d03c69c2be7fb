// createClient(): one object per base URL and token, grouping the control
// API's calls the way the spec lists them. Thin on purpose: each method is
// one request (watch and deploy aside), so what the API documents is what
// the SDK does.
import { deployAndFollow, type DeployFollowOptions } from "./deploy.js";
import { Http, type ClientOptions } from "./http.js";
import type { CreatePreviewBody, Deployment, DeployOptions, Files, Preview, ScopedToken, Share, TokenScope, Visibility } from "./types.js";
import { watchPreview, type PreviewWatch, type WatchOptions } from "./watch.js";

export interface PreviewdClient {
  readonly options: Readonly<ClientOptions>;
  /** The same client with another bearer token (e.g. a scoped token the host app's server minted). */
  withToken(token: string | undefined): PreviewdClient;
  previews: {
    /** POST /v1/previews; `wait: true` answers once the app serves HTTP (status running) or failed. */
    create(body: CreatePreviewBody, o?: { wait?: boolean; signal?: AbortSignal }): Promise<Preview>;
    get(id: string, o?: { signal?: AbortSignal }): Promise<Preview>;
    list(o?: { signal?: AbortSignal }): Promise<Preview[]>;
    /** PATCH the files in place; `delete` removes paths. */
    updateFiles(id: string, files: Files, o?: { delete?: string[]; signal?: AbortSignal }): Promise<Preview>;
    remove(id: string, o?: { signal?: AbortSignal }): Promise<void>;
    /** The app's stdout/stderr, last `tail` lines (the daemon's default when unset). */
    logs(id: string, o?: { tail?: number; signal?: AbortSignal }): Promise<string>;
    suspend(id: string): Promise<Preview>;
    resume(id: string): Promise<Preview>;
    /** Status, phase and deployment events, reconnecting; see WatchOptions. */
    watch(id: string, o?: WatchOptions): PreviewWatch;
    /** Mint a token for this one preview (host app's server side; needs the API token). */
    token(id: string, o?: { scope?: TokenScope[]; ttlSeconds?: number }): Promise<ScopedToken>;
    /** PATCH /v1/previews/{id}: public, or private (only share links open it). Needs the API token. */
    setVisibility(id: string, visibility: Visibility): Promise<Preview>;
  };
  /** Share links to private previews (host app's server side; needs the API token). */
  shares: {
    create(previewId: string, o?: { ttlSeconds?: number; password?: string }): Promise<Share>;
    list(previewId: string): Promise<Share[]>;
    /** The link and the cookies it set stop working on every node within seconds. */
    revoke(previewId: string, shareId: string): Promise<void>;
  };
  deployments: {
    get(id: string): Promise<Deployment>;
    /** The deployments of a preview. */
    list(previewId: string): Promise<Deployment[]>;
    /** Tear down what the deployment created at the provider. */
    remove(id: string): Promise<Deployment>;
    /** Put the previous code of this deployment's project back live: a new deployment of mode rollback. */
    rollback(id: string): Promise<Deployment>;
  };
  /** Deploy a preview and follow it: resolves when live, rejects with PreviewdError (with `step`) when it fails. */
  deploy(previewId: string, opts?: DeployOptions, follow?: DeployFollowOptions): Promise<Deployment>;
}

export function createClient(options: ClientOptions): PreviewdClient {
  const http = new Http(options);
  const p = (id: string) => `/v1/previews/${encodeURIComponent(id)}`;
  return {
    options,
    withToken: (token) => createClient({ ...options, token }),
    previews: {
      create: (body, o = {}) => http.json("POST", "/v1/previews", { body, query: { wait: o.wait ? 1 : undefined }, signal: o.signal }),
      get: (id, o = {}) => http.json("GET", p(id), o),
      list: async (o = {}) => (await http.json<{ previews: Preview[] }>("GET", "/v1/previews", o)).previews,
      updateFiles: (id, files, o = {}) => http.json("PATCH", `${p(id)}/files`, { body: { files, ...(o.delete?.length && { delete: o.delete }) }, signal: o.signal }),
      remove: async (id, o = {}) => void (await http.send("DELETE", p(id), o)),
      logs: async (id, o = {}) => (await http.send("GET", `${p(id)}/logs`, { query: { tail: o.tail }, accept: "text/plain", signal: o.signal })).text(),
      suspend: (id) => http.json("POST", `${p(id)}/suspend`),
      resume: (id) => http.json("POST", `${p(id)}/resume`),
      watch: (id, o) => watchPreview(http, id, o),
      token: (id, o = {}) => http.json("POST", `${p(id)}/tokens`, { body: o }),
      setVisibility: (id, visibility) => http.json("PATCH", p(id), { body: { visibility } }),
    },
    shares: {
      create: async (previewId, o = {}) => (await http.json<{ share: Share }>("POST", `${p(previewId)}/shares`, { body: o })).share,
      list: async (previewId) => (await http.json<{ shares: Share[] }>("GET", `${p(previewId)}/shares`)).shares,
      revoke: async (previewId, shareId) => void (await http.send("DELETE", `${p(previewId)}/shares/${encodeURIComponent(shareId)}`)),
    },
    deployments: {
      get: async (id) => (await http.json<{ deployment: Deployment }>("GET", `/v1/deployments/${encodeURIComponent(id)}`)).deployment,
      list: async (previewId) => (await http.json<{ deployments: Deployment[] }>("GET", `${p(previewId)}/deployments`)).deployments,
      remove: async (id) => (await http.json<{ deployment: Deployment }>("DELETE", `/v1/deployments/${encodeURIComponent(id)}`)).deployment,
      rollback: async (id) => (await http.json<{ deployment: Deployment }>("POST", `/v1/deployments/${encodeURIComponent(id)}/rollback`)).deployment,
    },
    deploy: (previewId, opts, follow) => deployAndFollow(http, previewId, opts, follow),
  };
}

/**
 * What a host app's server route does for a browser: create the preview with
 * the API token, mint a short-lived token scoped to it, and hand the browser
 * both (never the API token). Pair with usePreviewOrchestrator's `create`.
 */
export async function createPreviewWithToken(
  admin: PreviewdClient,
  body: CreatePreviewBody,
  o: { wait?: boolean; scope?: TokenScope[]; ttlSeconds?: number } = {},
): Promise<{ preview: Preview; token: string; expiresAt: string }> {
  const preview = await admin.previews.create(body, { wait: o.wait });
  const { token, expiresAt } = await admin.previews.token(preview.id, { scope: o.scope ?? ["read", "files"], ttlSeconds: o.ttlSeconds });
  return { preview, token, expiresAt };
}
