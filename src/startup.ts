// What `previewd serve` says once it is up: a few lines on what runs where
// (listeners, database, image and capacity, which tiers are on), then the
// ready line. Each is one log line whose message reads on its own on a
// terminal; JSON consumers get the same facts as fields under `summary`
// (hidden in the readable format, log.ts). A token generated at this start
// is printed once on stderr, with a first request to try on a terminal.
import pkg from "../package.json" with { type: "json" };
import type { Config } from "./config.ts";
import type { Logger } from "./log.ts";

export interface StartupFacts {
  config: Config;
  apiPort: number;
  proxyPort: number;
  peerPort: number;
  databaseUrl: string;
  /** The embedded PostgreSQL's data dir, when DATABASE_URL is unset. */
  embeddedDir?: string;
  capacity: number;
  /** Fly overflow configured and answering at start. */
  fly: boolean;
  /** Railway deploys on (RAILWAY_API_TOKEN set). */
  deploy: boolean;
}

/** A database URL without its password. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "(unparseable DATABASE_URL)";
  }
}

export function startupLines(f: StartupFacts): Array<{ msg: string; summary: Record<string, unknown> }> {
  const c = f.config;
  const api = `http://${c.host}:${f.apiPort}`;
  const previews = `http://{id}.${c.domain}:${f.proxyPort}`;
  const cluster = c.clusterSecret
    ? `cluster: peer listener ${c.host}:${f.peerPort}, seeds ${c.peers.length ? c.peers.join(", ") : "none (first node)"}`
    : "single node (no PREVIEWD_CLUSTER_SECRET)";
  const dbPort = (() => {
    try {
      return new URL(f.databaseUrl).port;
    } catch {
      return "?";
    }
  })();
  const database = f.embeddedDir ? `embedded PostgreSQL in ${f.embeddedDir} (127.0.0.1:${dbPort})` : `${redactUrl(f.databaseUrl)} (DATABASE_URL)`;
  const fly = f.fly ? `fly overflow on (app ${c.flyApp})` : c.flyApiToken && c.flyApp ? "fly overflow OFF (Fly.io refused at start, see above)" : "fly overflow off (FLY_API_TOKEN, FLY_APP unset)";
  const deploy = f.deploy ? "deploy to Railway on" : "deploy off (RAILWAY_API_TOKEN unset)";
  return [
    { msg: `previewd ${pkg.version}, node ${c.nodeId}: control API ${api}, previews ${previews}; ${cluster}`, summary: { version: pkg.version, node: c.nodeId, api, previews, peer: c.clusterSecret ? `${c.host}:${f.peerPort}` : null, seeds: c.peers } },
    { msg: `database: ${database}`, summary: { database: f.embeddedDir ? { embedded: f.embeddedDir, port: Number(dbPort) } : { url: redactUrl(f.databaseUrl) } } },
    { msg: `containers: image ${c.image}, capacity ${f.capacity}, warm pool ${c.warmPool}`, summary: { image: c.image, capacity: f.capacity, warmPool: c.warmPool } },
    { msg: `tiers: container on, browser on, ${fly}; ${deploy}`, summary: { tiers: { container: true, browser: true, fly: f.fly }, deploy: f.deploy } },
  ];
}

export function announce(f: StartupFacts, log: Logger, token: { generated?: string; path?: string }): void {
  for (const l of startupLines(f)) log.info({ summary: l.summary }, l.msg);
  const api = `http://${f.config.host}:${f.apiPort}`;
  log.info({ api, proxy: `http://{id}.${f.config.domain}:${f.proxyPort}`, node: f.config.nodeId, capacity: f.capacity }, "previewd is ready");
  if (log.levelVal > 30) return; // quiet (tests, benchmarks)
  const lines: string[] = [];
  // Never in the log: a log shipper would keep the secret. Printed once, on stderr.
  if (token.generated) lines.push(`API token: ${token.generated}   <- printed once; kept in ${token.path}`);
  if (process.stderr.isTTY) {
    const tokenRef = token.generated ?? (token.path ? `$(cat ${token.path})` : "$PREVIEWD_API_TOKEN");
    lines.push(
      `try:`,
      `  curl -s -X POST '${api}/v1/previews?wait=1' -H "Authorization: Bearer ${tokenRef}" -H 'content-type: application/json' \\`,
      `    -d '{"files":{"server.js":"require(\\"http\\").createServer((q,s)=>s.end(\\"hello from previewd\\\\n\\")).listen(process.env.PORT)"},"command":["node","server.js"]}'`,
    );
  }
  if (lines.length) process.stderr.write(lines.join("\n") + "\n");
}
