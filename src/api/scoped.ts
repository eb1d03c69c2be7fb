// Scoped tokens (POST /v1/previews/{id}/tokens): a bearer token a browser may
// hold, good for ONE preview, some actions and a limited time, so the API
// token itself never reaches a browser. Stateless: the token carries its
// claims and an HMAC-SHA256 over them keyed by a key derived from the API
// token, so every node that shares the API token accepts it, and rotating the
// API token revokes them all. Format: pvs_<base64url(claims)>.<base64url(mac)>.
import { createHash, createHmac, timingSafeEqual } from "node:crypto";

export const SCOPES = ["read", "files", "deploy"] as const;
export type Scope = (typeof SCOPES)[number];

export interface Claims {
  /** The preview. */
  p: string;
  s: Scope[];
  /** Expiry, Unix seconds. */
  e: number;
}

const PREFIX = "pvs_";

export class ScopedTokens {
  private readonly key: Buffer;

  constructor(apiToken: string, private readonly now: () => number = Date.now) {
    this.key = createHash("sha256").update("previewd scoped token key\0").update(apiToken).digest();
  }

  issue(previewId: string, scope: Scope[], ttlSeconds: number): { token: string; expiresAt: string } {
    const e = Math.floor(this.now() / 1000) + ttlSeconds;
    const body = Buffer.from(JSON.stringify({ p: previewId, s: scope, e } satisfies Claims)).toString("base64url");
    return { token: `${PREFIX}${body}.${this.mac(body)}`, expiresAt: new Date(e * 1000).toISOString() };
  }

  /** The claims of a well-formed, authentic, unexpired token; undefined otherwise. */
  verify(token: string): Claims | undefined {
    if (!token.startsWith(PREFIX)) return undefined;
    // Exactly two segments: `<token>.anything` is not the token (a MAC over the first two says nothing of the rest).
    const parts = token.slice(PREFIX.length).split(".");
    if (parts.length !== 2) return undefined;
    const [body, mac] = parts as [string, string];
    if (!body || !mac) return undefined;
    const want = Buffer.from(this.mac(body));
    const got = Buffer.from(mac);
    if (got.length !== want.length || !timingSafeEqual(got, want)) return undefined;
    try {
      const c = JSON.parse(Buffer.from(body, "base64url").toString("utf8")) as Claims;
      if (typeof c.p !== "string" || !Array.isArray(c.s) || typeof c.e !== "number") return undefined;
      return c.e * 1000 > this.now() ? c : undefined;
    } catch {
      return undefined;
    }
  }

  static isScoped(token: string): boolean {
    return token.startsWith(PREFIX);
  }

  private mac(body: string): string {
    return createHmac("sha256", this.key).update(body).digest("base64url");
  }
}

/**
 * What a scoped token may call: the scope a route needs, and the preview it
 * is about. Anything not listed (list, create, delete, suspend, cluster,
 * tokens) is never allowed with a scoped token.
 */
export function routeNeeds(method: string, path: string): { scope: Scope; previewId?: string; deploymentId?: string } | undefined {
  const m = /^\/v1\/previews\/([^/]+)(\/[a-z/]*)?$/.exec(path);
  if (m) {
    const [, id, rest = ""] = m;
    if (method === "GET" && ["", "/logs", "/events", "/deployments"].includes(rest)) return { scope: "read", previewId: id };
    if (method === "PATCH" && rest === "/files") return { scope: "files", previewId: id };
    if (method === "POST" && rest === "/deploy") return { scope: "deploy", previewId: id };
    return undefined;
  }
  const dm = /^\/v1\/deployments\/([^/]+)(\/rollback)?$/.exec(path);
  if (dm) {
    if (dm[2]) return method === "POST" ? { scope: "deploy", deploymentId: dm[1] } : undefined;
    if (method === "GET") return { scope: "read", deploymentId: dm[1] };
    if (method === "DELETE") return { scope: "deploy", deploymentId: dm[1] };
  }
  return undefined;
}
