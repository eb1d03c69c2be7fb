// The control API (spec/api.md): /v1 behind a bearer token, health and
// metrics in the clear. Every error leaves as the spec's error object.
import { Hono, type MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { cors } from "hono/cors";
import { isDatabaseBusy, isDatabaseUnavailable } from "../db/outage.ts";
import { AppError, badRequest, databaseBusy, insufficientStorage, isAppError, isNoSpace, tooLarge } from "../errors.ts";
import type { Logger } from "../log.ts";
import { isGzip, readArchive } from "./archive.ts";
import { apiAuth } from "./auth.ts";
import { ScopedTokens } from "./scoped.ts";
import { dashboard } from "./dashboard.ts";
import { ClusterEvents, clusterEventsResponse } from "./cluster-events.ts";
import { previewEvents } from "./events.ts";
import { nodeRoutes, type NodeService } from "./nodes.ts";
import { CreateBody, CreateOptions, DeployBody, LogsQuery, TokenBody, PatchFilesBody, PatchOptions, PatchPreviewBody, ShareBody, checkFiles, parse, toSpec, type FileLimits } from "./schemas.ts";
import type { AccessService, ClusterService, DeploymentService, PreviewService } from "./service.ts";
import { withVisibility } from "./visibility.ts";
import type { Visibility } from "../types.ts";

export type { AccessService, ClusterService, DeploymentService, PreviewService } from "./service.ts";

export interface ApiDeps {
  token: string;
  limits: FileLimits;
  previews: PreviewService;
  cluster: ClusterService;
  /** Origins whose pages may call /v1 from a browser (with a scoped token); `*` for any. */
  corsOrigins?: string[];
  /** Unset: deploys are off (no RAILWAY_API_TOKEN). */
  deployments?: DeploymentService;
  log: Logger;
  ready(): boolean;
  /** The Prometheus exposition (prom-client renders it asynchronously). */
  metrics(): string | Promise<string>;
  /** Replaces the bearer check (the peer listener has verified its own signature). */
  auth?: MiddlewareHandler;
  /** Node operations (drain); api/nodes.ts. */
  nodes?: NodeService;
  /** Visibility and share links; unset (the peer listener's API): no such routes, views as the previews service gives them. */
  access?: AccessService;
  /** The visibility of a preview created without one (PREVIEWD_VISIBILITY). */
  defaultVisibility?: Visibility;
}

export function createApi(given: ApiDeps): Hono {
  // Views show the visibility this node's proxy enforces (a change is kept in its own column, not in the owner's memory).
  const deps = given.access ? { ...given, previews: withVisibility(given.previews, given.access) } : given;
  const app = new Hono();
  const log = deps.log.child({ mod: "api" });

  app.onError((err, c) => {
    if (isAppError(err)) {
      if (err.code === "database_busy") c.header("retry-after", "5");
      return c.json(err.toBody(), err.status as 400);
    }
    // Out of connection slots is not "unreachable": say which (issue 10, item 4).
    if (isDatabaseBusy(err)) {
      log.warn({ err: (err as Error).message, path: c.req.path }, "PostgreSQL out of connections");
      c.header("retry-after", "5");
      return c.json(databaseBusy("this request could not get a database connection", (err as Error).message).toBody(), 503);
    }
    if (isDatabaseUnavailable(err)) {
      log.warn({ err: (err as Error).message, path: c.req.path }, "PostgreSQL unreachable");
      c.header("retry-after", "5");
      return c.json(new AppError("database_unavailable", 503, `PostgreSQL is unreachable (${(err as Error).message}); running previews keep answering. Try again shortly.`).toBody(), 503);
    }
    // A full disk anywhere on the way (a write this node did not check first): say so, not "internal".
    if (isNoSpace(err)) {
      log.warn({ err: (err as Error).message, path: c.req.path }, "disk full");
      return c.json(insufficientStorage("this node's data directory", (err as Error).message).toBody(), 507);
    }
    log.error({ err, path: c.req.path }, "request failed");
    return c.json(new AppError("internal", 500, "Internal error; see the daemon's log.").toBody(), 500);
  });
  app.notFound((c) => c.json(new AppError("not_found", 404, `No route ${c.req.method} ${c.req.path}.`).toBody(), 404));

  app.get("/healthz", (c) => c.text("ok"));
  app.get("/readyz", (c) => (deps.ready() ? c.text("ready") : c.text("starting", 503)));
  app.get("/metrics", async (c) => c.text(await deps.metrics(), 200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" }));
  app.route("/", dashboard());

  const v1 = new Hono();
  const scoped = new ScopedTokens(deps.token);
  if (deps.corsOrigins?.length) v1.use("*", cors({ origin: deps.corsOrigins.includes("*") ? "*" : deps.corsOrigins, allowHeaders: ["authorization", "content-type", "x-previewd-options"], allowMethods: ["GET", "POST", "PATCH", "DELETE", "OPTIONS"], maxAge: 600 }));
  v1.use("*", deps.auth ?? apiAuth({ token: deps.token, scoped, deploymentPreview: async (id) => (await deps.deployments?.get(id).catch(() => undefined) as { previewId?: string } | undefined)?.previewId }));
  // JSON escaping can double text; allow for it, then check the real sizes.
  const maxBody = deps.limits.maxBytes * 2 + 1024 * 1024;
  v1.use("*", bodyLimit({ maxSize: maxBody, onError: () => { throw tooLarge(`Request body is larger than ${maxBody} bytes.`); } }));

  // A gzipped tar body is the whole project; the other fields then come from
  // the X-Previewd-Options header (JSON) and, for the simple ones, the query.
  v1.post("/previews", async (c) => {
    const req = c.req.raw;
    const body = isGzip(req.headers.get("content-type"))
      ? { ...parse(CreateOptions, archiveOptions(req, createQuery(c.req.query())), "options"), files: await readArchive(req.body ?? [], deps.limits) }
      : parse(CreateBody, await json(req));
    checkFiles(body.files, deps.limits);
    const wait = ["1", "true"].includes(c.req.query("wait") ?? "");
    return c.json(await deps.previews.create(toSpec(body, deps.defaultVisibility), { wait }), 201);
  });
  v1.get("/previews", async (c) => c.json({ previews: await deps.previews.list() }));
  v1.get("/previews/:id", async (c) => c.json(await deps.previews.get(c.req.param("id"))));
  v1.patch("/previews/:id/files", async (c) => {
    const req = c.req.raw;
    // An archive PATCH keeps its folders as they are (no top-folder strip): it may hold just src/.
    const body = isGzip(req.headers.get("content-type"))
      ? { ...parse(PatchOptions, archiveOptions(req, {}), "options"), files: await readArchive(req.body ?? [], deps.limits, { stripTopFolder: false }) }
      : parse(PatchFilesBody, await json(req));
    checkFiles(body.files, deps.limits, body.delete);
    return c.json(await deps.previews.updateFiles(c.req.param("id"), body.files, body.delete));
  });
  v1.get("/previews/:id/logs", async (c) => {
    const q = parse(LogsQuery, c.req.query(), "query");
    const follow = q.follow === "1" || q.follow === "true";
    const stream = await deps.previews.logs(c.req.param("id"), { tail: q.tail, follow, signal: c.req.raw.signal });
    return new Response(stream, { headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" } });
  });
  v1.post("/previews/:id/suspend", async (c) => c.json(await deps.previews.suspend(c.req.param("id"))));
  v1.post("/previews/:id/resume", async (c) => c.json(await deps.previews.resume(c.req.param("id"))));
  v1.delete("/previews/:id", async (c) => {
    await deps.previews.delete(c.req.param("id"));
    return c.body(null, 204);
  });
  v1.get("/previews/:id/database/export", async (c) => {
    const sql = await deps.previews.exportDatabase(c.req.param("id"));
    return new Response(sql, { status: 200, headers: { "content-type": "application/sql; charset=utf-8", "content-disposition": `attachment; filename="${c.req.param("id")}.sql"` } });
  });
  v1.post("/previews/:id/deploy", async (c) => {
    const id = c.req.param("id");
    const body = parse(DeployBody, await json(c.req.raw));
    if (!deps.deployments) throw new AppError("deploy_off", 503, "Deploys are off on this node: RAILWAY_API_TOKEN is not set.");
    return c.json({ deployment: await deps.deployments.create(id, body) }, 202);
  });
  v1.get("/previews/:id/deployments", async (c) => {
    const id = c.req.param("id");
    await deps.previews.get(id); // 404 for an unknown preview, not an empty list
    return c.json({ deployments: deps.deployments ? await deps.deployments.list(id) : [] });
  });
  v1.get("/previews/:id/events", async (c) => {
    const id = c.req.param("id");
    await deps.previews.get(id);
    const stream = previewEvents(id, deps.previews, deps.deployments, c.req.raw.signal);
    return new Response(stream, { headers: { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-store", "x-accel-buffering": "no" } });
  });
  v1.get("/deployments/:id", async (c) => {
    if (!deps.deployments) throw new AppError("not_found", 404, `No deployment with id ${JSON.stringify(c.req.param("id"))}.`);
    return c.json({ deployment: await deps.deployments.get(c.req.param("id")) });
  });
  v1.post("/deployments/:id/rollback", async (c) => {
    if (!deps.deployments) throw new AppError("not_found", 404, `No deployment with id ${JSON.stringify(c.req.param("id"))}.`);
    return c.json({ deployment: await deps.deployments.rollback(c.req.param("id")) }, 202);
  });
  v1.delete("/deployments/:id", async (c) => {
    if (!deps.deployments) throw new AppError("not_found", 404, `No deployment with id ${JSON.stringify(c.req.param("id"))}.`);
    return c.json({ deployment: await deps.deployments.remove(c.req.param("id")) }, 202);
  });
  v1.post("/previews/:id/tokens", async (c) => {
    const id = c.req.param("id");
    const text = await c.req.text();
    const body = parse(TokenBody, text ? parseJson(text) : {});
    await deps.previews.get(id); // 404 for an unknown preview
    return c.json(scoped.issue(id, body.scope ?? ["read", "files"], body.ttlSeconds ?? 3600), 201);
  });
  const access = deps.access;
  if (access) {
    v1.patch("/previews/:id", async (c) => {
      const id = c.req.param("id");
      const body = parse(PatchPreviewBody, await json(c.req.raw));
      await deps.previews.get(id); // 404 first
      await access.setVisibility(id, body.visibility);
      return c.json(await deps.previews.get(id));
    });
    v1.post("/previews/:id/shares", async (c) => {
      const id = c.req.param("id");
      const text = await c.req.text();
      const body = parse(ShareBody, text ? parseJson(text) : {});
      const p = await deps.previews.get(id);
      const s = await access.createShare(id, p.url, { ttlSeconds: body.ttlSeconds, password: body.password });
      return c.json({ share: { id: s.id, url: s.url, expiresAt: s.expiresAt } }, 201);
    });
    v1.get("/previews/:id/shares", async (c) => {
      const id = c.req.param("id");
      const p = await deps.previews.get(id);
      return c.json({ shares: await access.listShares(id, p.url) });
    });
    v1.delete("/previews/:id/shares/:shareId", async (c) => {
      const id = c.req.param("id");
      await deps.previews.get(id);
      await access.revokeShare(id, c.req.param("shareId"));
      return c.body(null, 204);
    });
  }
  v1.get("/cluster", (c) => c.json(deps.cluster.view()));
  const clusterEvents = new ClusterEvents(deps.previews, deps.cluster); // one shared loop for every dashboard
  v1.get("/events", (c) => clusterEventsResponse(clusterEvents, c.req.raw.signal));
  if (deps.nodes) v1.route("/nodes", nodeRoutes(deps.nodes));

  app.route("/v1", v1);
  return app;
}

const OPTIONS_HEADER = "x-previewd-options";

/** Create options of an archive upload from the query: the simple ones only (`command`, `env` need the header). */
function createQuery(q: Record<string, string>): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const [k, val] of Object.entries(q)) {
    if (k === "wait") continue;
    else if (k === "port") o.port = /^\d{1,5}$/.test(val) ? Number(val) : val;
    else if (k === "tier") o.tier = val;
    else if (k === "visibility") o.visibility = val;
    else if (k === "database") o.database = ["1", "true"].includes(val) ? true : ["0", "false"].includes(val) ? false : val;
    else throw badRequest(`Query parameter ${JSON.stringify(k)} is not an option; the query takes port, tier, database, visibility and wait, anything else goes in the X-Previewd-Options header as JSON.`);
  }
  return o;
}

/** Query options, overridden by the X-Previewd-Options header's JSON object. */
function archiveOptions(req: Request, fromQuery: Record<string, unknown>): Record<string, unknown> {
  const header = req.headers.get(OPTIONS_HEADER);
  if (!header) return fromQuery;
  let parsed: unknown;
  try {
    parsed = JSON.parse(header);
  } catch (e) {
    throw badRequest(`The X-Previewd-Options header is not valid JSON: ${(e as Error).message}.`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw badRequest("The X-Previewd-Options header must be a JSON object.");
  if ("files" in parsed) throw badRequest("The X-Previewd-Options header may not hold files; they come from the archive.");
  return { ...fromQuery, ...parsed };
}

async function json(req: Request): Promise<unknown> {
  const text = await req.text();
  if (!text) throw badRequest("The request body is empty; send JSON.");
  return parseJson(text);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw badRequest(`The request body is not valid JSON: ${(e as Error).message}.`);
  }
}
