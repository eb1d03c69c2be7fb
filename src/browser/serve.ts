// Answers a request for a built site the way a static host does: the file,
// else `dir/index.html`, else the SPA's index.html for a page navigation;
// MIME types by extension; ETag and 304; long caching only for hashed asset
// names (Vite's assets/index-3f9a1c2b.js), revalidation for everything else;
// gzip when the client takes it and it is worth it.
import { getMimeType } from "hono/utils/mime";
import type { Site, SiteFile } from "./sites.ts";

const HASHED = /[-.][A-Za-z0-9_]{8,}\.(js|mjs|css|woff2?|ttf|otf|png|jpe?g|gif|svg|webp|avif|wasm|ico)$/;
const COMPRESSIBLE = /^(text\/|application\/(javascript|json|xml|wasm|manifest\+json)|image\/svg\+xml)/;

export function serveSite(site: Site, req: Request): Response {
  if (req.method !== "GET" && req.method !== "HEAD") {
    return new Response("Method Not Allowed: this preview is a static site", { status: 405, headers: { allow: "GET, HEAD" } });
  }
  const url = new URL(req.url, "http://x");
  let path: string;
  try {
    path = decodeURIComponent(url.pathname).replace(/^\/+/, "");
  } catch {
    return new Response("Bad Request: malformed path", { status: 400 });
  }
  const found = lookup(site, path, req);
  if (!found) return new Response("Not Found", { status: 404, headers: { "content-type": "text/plain; charset=utf-8" } });
  const [name, file] = found;
  const type = getMimeType(name) ?? "application/octet-stream";
  const headers: Record<string, string> = {
    "content-type": type,
    etag: file.etag,
    "cache-control": HASHED.test(name) ? "public, max-age=31536000, immutable" : "no-cache",
    vary: "accept-encoding",
  };
  if (req.headers.get("if-none-match") === file.etag) return new Response(null, { status: 304, headers });
  let body = file.bytes;
  if (COMPRESSIBLE.test(type) && body.byteLength > 1024 && /\bgzip\b/.test(req.headers.get("accept-encoding") ?? "")) {
    file.gzip ??= Bun.gzipSync(file.bytes as Uint8Array<ArrayBuffer>);
    body = file.gzip;
    headers["content-encoding"] = "gzip";
  }
  headers["content-length"] = String(body.byteLength);
  return new Response(req.method === "HEAD" ? null : (body as Uint8Array<ArrayBuffer>), { status: 200, headers });
}

function lookup(site: Site, path: string, req: Request): [string, SiteFile] | undefined {
  const candidates = path === "" || path.endsWith("/") ? [`${path}index.html`] : [path, `${path}/index.html`, `${path}.html`];
  for (const c of candidates) {
    const f = site.files.get(c);
    if (f) return [c, f];
  }
  // A client-side route (/users/7) is the SPA's index.html; a missing asset (/app.js) is a 404.
  const navigation = req.headers.get("sec-fetch-mode") === "navigate" || (req.headers.get("accept") ?? "").includes("text/html") || !/\.[a-z0-9]+$/i.test(path);
  const index = site.files.get("index.html");
  return navigation && index ? ["index.html", index] : undefined;
}
