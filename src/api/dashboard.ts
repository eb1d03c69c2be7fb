// The dashboard at `/` on the API port: a static page plus plain ES modules
// and a stylesheet (src/api/dashboard/), imported as text so they are part
// of this module, and so of the `bun build --compile` executable: nothing to
// build or find on disk at run time. The page holds no secret and no data;
// it asks the operator for the API token, keeps it in sessionStorage only,
// and reads everything through the authenticated /v1 API (GET /v1/events
// for live updates, api/cluster-events.ts).
//
// The token in sessionStorage is readable by any script on the page, so the
// page allows only its own scripts (CSP), is never framed, and the client
// writes every value it shows with textContent, never as HTML.
import { createHash } from "node:crypto";
import { Hono } from "hono";
import api from "./dashboard/api.js" with { type: "text" };
import cluster from "./dashboard/cluster.js" with { type: "text" };
import main from "./dashboard/main.js" with { type: "text" };
import panels from "./dashboard/panels.js" with { type: "text" };
import table from "./dashboard/table.js" with { type: "text" };
import css from "./dashboard/style.css" with { type: "text" };
import html from "./dashboard/index.html" with { type: "text" };

interface Asset {
  body: string;
  type: string;
  etag: string;
}

function asset(body: string, type: string): Asset {
  return { body, type, etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 22)}"` };
}

const ASSETS: Record<string, Asset> = {
  "api.js": asset(api, "text/javascript; charset=utf-8"),
  "cluster.js": asset(cluster, "text/javascript; charset=utf-8"),
  "main.js": asset(main, "text/javascript; charset=utf-8"),
  "panels.js": asset(panels, "text/javascript; charset=utf-8"),
  "table.js": asset(table, "text/javascript; charset=utf-8"),
  "style.css": asset(css, "text/css; charset=utf-8"),
};
const PAGE = asset(html, "text/html; charset=utf-8");

const SECURITY_HEADERS = {
  "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
};

/** Routes `/` and `/dashboard/{file}`; mounted on the API app before /v1. */
export function dashboard(): Hono {
  const app = new Hono();
  // Revalidated on every load (ETag), so an upgraded daemon never serves a stale page.
  const send = (a: Asset, ifNoneMatch: string | undefined) =>
    ifNoneMatch === a.etag
      ? new Response(null, { status: 304, headers: { etag: a.etag, ...SECURITY_HEADERS } })
      : new Response(a.body, { headers: { "content-type": a.type, etag: a.etag, "cache-control": "no-cache", ...SECURITY_HEADERS } });
  app.get("/", (c) => send(PAGE, c.req.header("if-none-match")));
  app.get("/dashboard/:file", (c) => {
    const a = ASSETS[c.req.param("file")];
    return a ? send(a, c.req.header("if-none-match")) : c.notFound();
  });
  return app;
}
