// Who may call the control API: the API token may call anything; a scoped
// token (api/scoped.ts) only what its scope names, for its own preview.
// Token comparison is constant-time so a token cannot be guessed byte by byte.
import { timingSafeEqual } from "node:crypto";
import type { MiddlewareHandler } from "hono";
import { forbidden, unauthorized } from "../errors.ts";
import { routeNeeds, ScopedTokens } from "./scoped.ts";

export function bearerAuth(token: string): MiddlewareHandler {
  return apiAuth({ token });
}

export interface ApiAuthOptions {
  token: string;
  scoped?: ScopedTokens;
  /** The preview a deployment belongs to (scoped tokens reach only their preview's deployments). */
  deploymentPreview?(deploymentId: string): Promise<string | undefined>;
}

export function apiAuth(o: ApiAuthOptions): MiddlewareHandler {
  const expected = Buffer.from(o.token);
  return async (c, next) => {
    const header = c.req.header("authorization") ?? "";
    const given = /^Bearer\s+(.+)$/i.exec(header)?.[1]?.trim() ?? "";
    const g = Buffer.from(given);
    if (g.length === expected.length && timingSafeEqual(g, expected)) return next();
    if (!o.scoped || !ScopedTokens.isScoped(given)) throw unauthorized();
    const claims = o.scoped.verify(given);
    if (!claims) throw unauthorized();
    const need = routeNeeds(c.req.method, c.req.path);
    if (!need) throw forbidden(`A scoped token cannot call ${c.req.method} ${c.req.path}; it is good for preview ${claims.p} only.`);
    const previewId = need.previewId ?? (need.deploymentId && (await o.deploymentPreview?.(need.deploymentId)));
    if (previewId !== claims.p) throw forbidden(`This token is for preview ${claims.p} only.`);
    if (!claims.s.includes(need.scope)) throw forbidden(`This token's scope is ${claims.s.join(", ") || "empty"}; ${c.req.method} ${c.req.path} needs ${need.scope}.`);
    return next();
  };
}
