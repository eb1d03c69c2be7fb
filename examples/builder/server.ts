// The builder's server: the host app a previewd user writes. It holds the API
// token (the browser never sees it), bundles the page (app.tsx) with Bun's
// bundler at start, and answers four things:
//
//   GET  /                          the page, GET /app.js its bundle, GET /api/starter the template's files
//   POST /api/previews              creates the preview: PRIVATE, container tier (Vite's dev server, so HMR)
//   POST /api/previews/{id}/share   a share link for the iframe (its cookie is Partitioned: see README)
//   /previewd/v1/previews/{id}/...  the page's SDK calls, forwarded with the token, for previews made here only
//
// Run: PREVIEWD_URL=http://127.0.0.1:8081 PREVIEWD_TOKEN=... bun examples/builder/server.ts
import type { BunPlugin } from "bun";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createClient, PreviewdError } from "../../sdk/src/index.ts";

const env = (name: string, def?: string): string => {
  const v = process.env[name] ?? def;
  if (!v) throw new Error(`${name} is not set (see examples/builder/README.md)`);
  return v;
};
const API = env("PREVIEWD_URL").replace(/\/+$/, "");
const TOKEN = env("PREVIEWD_TOKEN");
const PORT = Number(env("PORT", "3000"));
const HOST = env("HOST", "127.0.0.1");
if (!Number.isInteger(PORT) || PORT < 0 || PORT > 65535) throw new Error(`PORT must be a port number (0-65535), not ${process.env.PORT}`);

const admin = createClient({ baseUrl: API, token: TOKEN });
/** Previews this server made: the only ones the page may reach through /previewd. */
const owned = new Set<string>();

// The starter template: a Vite + React app, read as text files (node_modules and build output left out).
const STARTER_DIR = join(import.meta.dir, "starter");
function readStarter(dir = STARTER_DIR, prefix = ""): Record<string, string> {
  const files: Record<string, string> = {};
  for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    if (["node_modules", "dist", ".vite"].includes(e.name)) continue;
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) Object.assign(files, readStarter(join(dir, e.name), rel));
    else if (e.isFile()) files[rel] = readFileSync(join(dir, e.name), "utf8");
  }
  return files;
}
const starter = readStarter();

// The page's dependencies (React, CodeMirror) are this package's own, installed from its lockfile on the first
// run, so that one command starts the example.
if (!existsSync(join(import.meta.dir, "node_modules", "codemirror"))) {
  console.log("builder: installing the page's dependencies (npm ci in examples/builder)");
  const npm = Bun.spawnSync(["npm", "ci", "--no-audit", "--no-fund"], { cwd: import.meta.dir, stdout: "inherit", stderr: "inherit" });
  if (npm.exitCode !== 0) throw new Error(`npm ci in ${import.meta.dir} failed (exit ${npm.exitCode})`);
  // Bun's resolver keeps what it saw at start (no node_modules here), so the bundling runs in a fresh process.
  const child = Bun.spawn([process.execPath, import.meta.path], { stdio: ["inherit", "inherit", "inherit"] });
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => child.kill(signal));
  process.exit(await child.exited);
}

// The SDK's source imports "react" too; resolved from the SDK's folder it would be another copy of React than
// the page's (two Reacts break hooks). Every react import goes to this package's own node_modules.
const oneReact: BunPlugin = {
  name: "one-react",
  setup(build) {
    build.onResolve({ filter: /^react(-dom)?(\/.*)?$/ }, (args) => ({ path: Bun.resolveSync(args.path, import.meta.dir) }));
  },
};
const built = await Bun.build({
  entrypoints: [join(import.meta.dir, "app.tsx")],
  target: "browser",
  format: "esm",
  define: { "process.env.NODE_ENV": JSON.stringify("production") },
  minify: true,
  plugins: [oneReact],
});
if (!built.success) throw new AggregateError(built.logs, "bundling app.tsx failed");
const bundle = await built.outputs[0]!.text();

const PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>previewd builder</title>
<style>
  body { margin: 0; font: 14px system-ui, sans-serif; }
  #root > div { display: grid; grid-template-columns: 180px 1fr 1fr; height: 100vh; }
  nav button { display: block; width: 100%; text-align: left; border: 0; background: none; padding: 4px 8px; cursor: pointer; }
  nav button[aria-current=true] { background: #e6f0ff; }
  .cm-editor { height: calc(100vh - 40px); }
  iframe { width: 100%; height: 60vh; border: 1px solid #ccc; }
  section { padding: 8px; overflow: auto; }
</style></head><body><div id="root"></div><script type="module" src="/app.js"></script></body></html>`;

/** The calls the page's SDK makes (status, events, file updates, deploy, delete), by method. */
const FORWARDED: Array<[string, RegExp]> = [
  ["GET", /^\/v1\/previews\/([a-z0-9]+)(\/events|\/deployments)?$/],
  ["PATCH", /^\/v1\/previews\/([a-z0-9]+)\/files$/],
  ["POST", /^\/v1\/previews\/([a-z0-9]+)\/deploy$/],
  ["DELETE", /^\/v1\/previews\/([a-z0-9]+)$/],
];

async function forward(req: Request, path: string, search: string): Promise<Response> {
  const rule = FORWARDED.find(([m, re]) => m === req.method && re.test(path));
  const id = rule?.[1].exec(path)?.[1];
  if (!rule || !id) return problem(404, "not_found", `The builder does not forward ${req.method} ${path}.`);
  if (!owned.has(id)) return problem(404, "not_found", `Preview ${id} was not made by this builder.`);
  const headers: Record<string, string> = { authorization: `Bearer ${TOKEN}`, accept: req.headers.get("accept") ?? "application/json" };
  if (req.headers.get("content-type")) headers["content-type"] = req.headers.get("content-type")!;
  const body = req.method === "GET" || req.method === "DELETE" ? undefined : await req.arrayBuffer();
  // req.signal: the page closing an event stream closes the one to the daemon.
  const res = await fetch(`${API}${path}${search}`, { method: req.method, headers, body, signal: req.signal });
  if (req.method === "DELETE" && res.ok) owned.delete(id);
  const out = new Headers();
  for (const h of ["content-type", "cache-control", "retry-after"]) if (res.headers.get(h)) out.set(h, res.headers.get(h)!);
  return new Response(res.body, { status: res.status, headers: out });
}

function problem(status: number, code: string, message: string): Response {
  return Response.json({ error: { code, message } }, { status });
}

/** The page sends the files of the template it was given: text only, bounded. */
function filesFrom(body: unknown): Record<string, string> | string {
  const files = (body as { files?: unknown } | null)?.files;
  if (!files || typeof files !== "object" || Array.isArray(files)) return "files must be an object of path -> text";
  let size = 0;
  for (const [path, text] of Object.entries(files)) {
    if (typeof text !== "string") return `files["${path}"] must be text`;
    size += text.length;
  }
  if (size > 5_000_000) return "files are over 5 MB in all";
  return files as Record<string, string>;
}

async function api(req: Request, path: string): Promise<Response> {
  if (req.method === "GET" && path === "/api/starter") return Response.json({ files: starter });
  if (req.method === "POST" && path === "/api/previews") {
    // A real host app would check its user's session here.
    const files = filesFrom(await req.json().catch(() => null));
    if (typeof files === "string") return problem(400, "invalid_request", files);
    const preview = await admin.previews.create({ files, tier: "container", visibility: "private" });
    owned.add(preview.id);
    return Response.json({ preview }, { status: 201 });
  }
  const share = /^\/api\/previews\/([a-z0-9]+)\/share$/.exec(path);
  if (req.method === "POST" && share) {
    if (!owned.has(share[1]!)) return problem(404, "not_found", `Preview ${share[1]} was not made by this builder.`);
    return Response.json({ share: await admin.shares.create(share[1]!, { ttlSeconds: 3600 }) }, { status: 201 });
  }
  return problem(404, "not_found", `No route ${req.method} ${path}.`);
}

const server = Bun.serve({
  hostname: HOST,
  port: PORT,
  idleTimeout: 0, // event streams stay open for as long as the page is
  async fetch(req) {
    const { pathname, search } = new URL(req.url);
    try {
      if (req.method === "GET" && pathname === "/") return new Response(PAGE, { headers: { "content-type": "text/html; charset=utf-8" } });
      if (req.method === "GET" && pathname === "/app.js") return new Response(bundle, { headers: { "content-type": "text/javascript; charset=utf-8" } });
      if (pathname.startsWith("/previewd/")) return await forward(req, pathname.slice("/previewd".length), search);
      if (pathname.startsWith("/api/")) return await api(req, pathname);
      return problem(404, "not_found", `No page ${pathname}.`);
    } catch (e) {
      if (e instanceof PreviewdError) return problem(e.status || 502, e.code, e.message);
      if (req.signal.aborted) return new Response(null, { status: 499 });
      console.error(e);
      return problem(502, "upstream_error", `previewd at ${API}: ${(e as Error).message}`);
    }
  },
});
// The test (and a person) read the address from this line.
console.log(`builder: http://${server.hostname}:${server.port}/ (previewd at ${API})`);
