// Composition root of `previewd serve`: config -> database -> adapters ->
// orchestrator -> cluster -> listeners; drains on SIGTERM. Only this file
// builds concrete adapters (Docker, PostgreSQL, gossip transport).
import type { Server } from "bun";
import { cpus } from "node:os";
import { join, resolve } from "node:path";
import { createApi } from "./api/index.ts";
import { BrowserTier } from "./browser/index.ts";
import { StaticBuilder } from "./browser/build.ts";
import { SiteStore } from "./browser/sites.ts";
import { effectiveCaBundle, effectiveCapacity, previewUrl, type Config } from "./config.ts";
import { DeploySource } from "./deploy/source.ts";
import { Deployments, DeploymentStore, publicView } from "./deploy/index.ts";
import { RailwayClient } from "./deploy/railway/client.ts";
import { RailwayApi } from "./deploy/railway/operations.ts";
import { RailwayProvider } from "./deploy/railway/provider.ts";
import { DepsCache, defaultCapBytes, prewarm, sandboxInstaller } from "./deps/index.ts";
import { connect, DatabaseWatchdog, migrate, PreviewDatabases, PreviewStore, startEmbeddedPostgres } from "./db/index.ts";
import type { Logger } from "./log.ts";
import { renderMetrics } from "./metrics.ts";
import { newPreviewId, Orchestrator } from "./orchestrator/index.ts";
import { PeerClient } from "./peer/client.ts";
import { createLocator } from "./peer/locate.ts";
import { startMembership } from "./peer/membership.ts";
import { Recovery } from "./peer/recovery.ts";
import { ClusterPreviews } from "./peer/router.ts";
import { startPeerServer } from "./peer/server.ts";
import { PEER_HOST_HEADER, PeerVerifier } from "./peer/signing.ts";
import { soloView, type ClusterView } from "./peer/view.ts";
import { DockerRuntime } from "./pool/docker.ts";
import { FlyMachines } from "./overflow/machines.ts";
import { FlyTier } from "./overflow/tier.ts";
import { createProxy, PROXY_IDLE_TIMEOUT_S } from "./proxy/index.ts";
import { apiToken } from "./token.ts";

export interface Daemon {
  config: Config;
  token: string;
  orchestrator: Orchestrator;
  view: ClusterView;
  proxyPort: number;
  apiPort: number;
  peerPort: number;
  databaseUrl: string;
  /** Unset when deploys are off (no RAILWAY_API_TOKEN). */
  deployments?: Deployments;
  stop(): Promise<void>;
}

export interface DaemonOptions {
  /** Extra labels on every container (tests mark theirs). */
  labels?: Record<string, string>;
  /** How often a deployment looks at the provider's progress (tests: faster). */
  deployPollMs?: number;
}

export async function startDaemon(config: Config, log: Logger, opts: DaemonOptions = {}): Promise<Daemon> {
  const { token, generated, path: tokenPath } = apiToken(config.apiToken, config.dataDir);
  const embedded = config.databaseUrl ? undefined : await startEmbeddedPostgres({ dataDir: join(config.dataDir, "postgres"), log: log.child({ mod: "embedded-pg" }) });
  const databaseUrl = config.databaseUrl || embedded!.url;
  const sql = connect(databaseUrl);
  await migrate(sql);
  const stoppers: Array<() => unknown> = [];

  // ---- this node's previews
  const depsRoot = resolve(config.depsDir || join(config.dataDir, "deps"));
  const runtime = new DockerRuntime({
    nodeId: config.nodeId, image: config.image, memoryMb: config.memoryMb, cpus: config.cpus, pidsLimit: config.pidsLimit,
    log: log.child({ mod: "docker" }), labels: opts.labels,
    depsDir: join(depsRoot, "entries"), caBundle: effectiveCaBundle(config), boostCpus: Math.max(config.boostCpus, config.cpus),
    installCpus: config.installCpus ? Number(config.installCpus) : cpus().length, installMemoryMb: config.installMemoryMb,
  });
  const deps = new DepsCache({
    root: depsRoot,
    capBytes: config.depsCacheMb ? Number(config.depsCacheMb) * 1024 * 1024 : defaultCapBytes(depsRoot),
    installer: sandboxInstaller(runtime, { timeoutMs: config.installTimeout * 1000, registry: config.npmRegistry || undefined }),
    log: log.child({ mod: "deps" }),
  });
  deps.init();
  const store = new PreviewStore(sql);
  const databases = new PreviewDatabases({ sql, adminUrl: databaseUrl, containerHost: config.dbHostForContainers, log: log.child({ mod: "db" }) });
  const capacity = effectiveCapacity(config);
  let boundProxyPort = config.proxyPort;
  const orchestrator = new Orchestrator({
    nodeId: config.nodeId, runtime, store, databases, log, deps,
    cpus: config.cpus, boostCpus: Math.max(config.boostCpus, config.cpus),
    warmPoolSize: config.warmPool, capacity,
    idleTimeoutMs: config.idleTimeout * 1000, stopAfterMs: config.stopAfter * 1000, startTimeoutMs: config.startTimeout * 1000,
    // The bound port, not the setting (0 picks a free one).
    previewUrl: (id) => previewUrl({ ...config, proxyPort: boundProxyPort }, id),
    // Requests this node forwarded (to a sibling, to Fly) count as activity in the shared record.
    foreignActivity: (id, at) => void store.update(id, { lastActiveAt: at }).catch(() => {}),
  });
  await orchestrator.start();
  stoppers.push(() => orchestrator.stop());
  if (config.prewarm.length) void prewarm(config.prewarm, deps, orchestrator.imageIdentity, log.child({ mod: "prewarm" }));
  stoppers.push(scheduleCleanup(config, store, databases, log));
  const watchdog = new DatabaseWatchdog({ sql, log: log.child({ mod: "db-watchdog" }), limitMs: config.dbQueryLimit * 1000, migrationLimitMs: 125_000 });
  watchdog.start();
  stoppers.push(() => watchdog.stop());

  // ---- Fly overflow, when a token and an app are set; off (logged) if Fly cannot be reached at start
  const fly = config.flyApiToken && config.flyApp ? await startFly(config, { store, databases, log, newId: newPreviewId, previewUrl: (id) => previewUrl({ ...config, proxyPort: boundProxyPort }, id) }) : undefined;
  if (fly) {
    const sweep = setInterval(() => void fly.sweep(orchestrator.idle, config.idleTimeout * 1000).catch((err: unknown) => log.warn({ err }, "Fly idle sweep failed")), Math.min(5000, config.idleTimeout * 500));
    const reconcile = setInterval(() => void fly.reconcile().catch((err: unknown) => log.warn({ err }, "Fly reconcile failed")), 300_000);
    stoppers.push(() => clearInterval(sweep), () => clearInterval(reconcile));
  }

  // ---- the browser tier: frontend-only apps built in the sandbox, served as files by every node
  const browser = new BrowserTier({
    store, sites: new SiteStore(sql), node: config.nodeId, newId: newPreviewId, log: log.child({ mod: "browser" }),
    previewUrl: (id) => previewUrl({ ...config, proxyPort: boundProxyPort }, id),
    builder: new StaticBuilder({
      runtime, deps, imageIdentity: async () => orchestrator.imageIdentity, workRoot: join(config.dataDir, "builds"), depsEntries: join(depsRoot, "entries"),
      timeoutMs: config.installTimeout * 1000, maxOutputBytes: Math.max(config.maxBytes * 4, 200 * 1024 * 1024), maxOutputFiles: config.maxFiles * 4,
    }),
  });
  await browser.resumeBuilds();
  stoppers.push(() => browser.stop());

  // ---- the cluster: a single node without a secret; gossip and a peer listener with one
  const local = { capacity, running: () => orchestrator.occupied };
  let peerServer: Server<unknown> | undefined;
  let view: ClusterView = soloView({ id: config.nodeId, state: "alive", capacity, running: 0, free: capacity, addr: `${config.host}:${config.peerPort}` }, () => ({ capacity, running: local.running() }));
  const verifier = new PeerVerifier(config.clusterSecret);
  let gossipDropped: () => Record<string, number> = () => ({});
  const localProxy = createProxy({
    domain: config.domain, log, activity: orchestrator.idle, maxInflight: config.previewMaxInflight, bodyTimeoutS: config.clientBodyTimeout,
    lookup: (id) => orchestrator.endpointIfRunning(id),
    resolve: (id) => orchestrator.resolve(id), // this node's previews only: one hop, never two
    hostOf: (req) => req.headers.get(PEER_HOST_HEADER),
    trustsForwarded: () => true, // a signed sibling hop: it set them for its own client
  });
  // What both control APIs share (the public one and the peer listener's own).
  let ready = false;
  const apiBase = {
    token, log,
    limits: { maxFiles: config.maxFiles, maxBytes: config.maxBytes },
    cluster: { view: () => ({ nodes: view.nodes(), overflow: { fly: !!fly } }) },
    ready: () => ready,
    metrics: () => renderMetrics([
      ...Object.entries(orchestrator.counts()).map(([status, value]) => ({ name: "previewd_previews", help: "Previews on this node by status.", value, labels: { status } })),
      { name: "previewd_capacity", help: "Previews this node may hold.", value: capacity },
      { name: "previewd_warm_available", help: "Warm containers ready to claim.", value: orchestrator.pool.available },
      { name: "previewd_db_watchdog_total", help: "Preview database backends stopped past PREVIEWD_DB_QUERY_LIMIT, by action.", value: watchdog.counts.cancelled, labels: { action: "cancelled" } },
      { name: "previewd_db_watchdog_total", help: "Preview database backends stopped past PREVIEWD_DB_QUERY_LIMIT, by action.", value: watchdog.counts.terminated, labels: { action: "terminated" } },
      { name: "previewd_deps_installs_total", help: "Dependency installs that ran (cache misses that succeeded).", value: deps.counters.installs },
      { name: "previewd_deps_install_failures_total", help: "Dependency installs that failed.", value: deps.counters.failures },
      { name: "previewd_deps_cache_hits_total", help: "Previews that got their dependencies from the cache.", value: deps.counters.hits },
      { name: "previewd_deps_cache_evictions_total", help: "Cache entries removed to stay under the cap.", value: deps.counters.evictions },
      { name: "previewd_deps_cache_entries", help: "Sealed dependency cache entries.", value: deps.size },
      { name: "previewd_deps_cache_bytes", help: "Disk used by the dependency cache.", value: deps.bytes },
      ...Object.entries(verifier.refused).map(([reason, value]) => ({ name: "previewd_peer_refused", help: "Peer calls refused, by reason.", value, labels: { reason } })),
      ...Object.entries(gossipDropped()).map(([reason, value]) => ({ name: "previewd_gossip_dropped", help: "Gossip datagrams dropped, by reason.", value, labels: { reason } })),
      { name: "previewd_cluster_alive_nodes", help: "Nodes this node sees alive.", value: view.nodes().filter((n) => n.state === "alive").length },
      ...(fly ? [
        ...(["running", "suspended", "other"] as const).map((status) => ({ name: "previewd_fly_previews", help: "Previews on Fly Machines, by status.", value: fly.totals[status], labels: { status } })),
        { name: "previewd_fly_running_seconds", help: "Seconds the cluster's Fly previews have run (machines alive).", value: Math.round(fly.totals.runningSeconds) },
        { name: "previewd_fly_suspended_seconds", help: "Seconds the cluster's Fly previews have been suspended.", value: Math.round(fly.totals.suspendedSeconds) },
        { name: "previewd_fly_estimated_cost_usd", help: "Estimated Fly cost of the cluster's current Fly previews (FLY_PRICE_* settings).", value: Math.round(fly.totals.costUsd * 1e4) / 1e4 },
      ] : []),
    ]),
  };
  if (config.clusterSecret) {
    const localApi = createApi({ ...apiBase, previews: orchestrator, auth: async (_c, next) => next() });
    peerServer = startPeerServer({ host: config.host, port: config.peerPort, verifier, api: localApi, proxy: localProxy as never, log, self: config.nodeId, maxApiBody: config.maxBytes * 2 + 2 * 1024 * 1024 });
    const membership = await startMembership({ config, peerPort: peerServer.port!, capacity, running: local.running, log });
    view = membership.view;
    gossipDropped = () => membership.swim.envelope.dropped;
    stoppers.unshift(() => membership.stop());
    const recovery = new Recovery({ view, store, orch: orchestrator, log: log.child({ mod: "recovery" }), intervalMs: 1000, graceMs: membership.graceMs });
    recovery.start();
    stoppers.unshift(() => recovery.stop());
  }
  const peers = new PeerClient(view, config.clusterSecret);
  const previews = new ClusterPreviews({
    orch: orchestrator, store, view, peers, log, fly, browser,
    forget: async (id) => {
      await store.remove(id);
      await databases.drop(id);
    },
  });

  // ---- deploys to Railway, when a token is set; this node resumes the ones it had started
  let deployments: Deployments | undefined;
  if (config.railwayApiToken) {
    const source = new DeploySource({ sql, adminUrl: databaseUrl, store, dir: join(config.dataDir, "deployments") });
    const api = new RailwayApi(new RailwayClient({ apiUrl: config.railwayApiUrl, token: config.railwayApiToken, log: log.child({ mod: "railway" }) }));
    const provider = new RailwayProvider({
      api, source, workspaceId: config.railwayWorkspaceId, postgresImage: config.railwayPostgresImage,
      edgeUrl: config.railwayEdgeUrl || undefined, deployTimeoutMs: config.deployTimeout * 1000, pollMs: opts.deployPollMs,
    });
    const d = new Deployments({
      store: new DeploymentStore(sql), source, provider, node: config.nodeId, log: log.child({ mod: "deploy" }),
      dropDatabase: (id) => databases.drop(id), cleanupByDefault: config.deployCleanup,
    });
    await d.resume();
    stoppers.unshift(() => d.stop());
    deployments = d;
  }
  const deploymentApi = deployments && {
    create: async (id: string, req: { provider: "railway"; projectName?: string; cleanup?: boolean }) => publicView(await deployments.create(id, req)),
    get: async (id: string) => publicView(await deployments.get(id)),
    list: async (id: string) => (await deployments.list(id)).map(publicView),
    remove: async (id: string) => publicView(await deployments.remove(id)),
  };

  // ---- public listeners
  const trustedProxies = new Set(config.trustedProxies);
  const proxy = createProxy({
    domain: config.domain, log, maxInflight: config.previewMaxInflight, bodyTimeoutS: config.clientBodyTimeout,
    lookup: (id) => orchestrator.endpointIfRunning(id),
    resolve: createLocator({ orch: orchestrator, store, peers, self: config.nodeId, fly, browser }),
    activity: orchestrator.idle,
    // Per request: nothing but a size check when no proxy is trusted (the common case).
    trustsForwarded: (ip) => trustedProxies.size > 0 && ip !== undefined && trustedProxies.has(ip.replace(/^::ffff:/, "")),
  });
  const proxyServer = Bun.serve({
    hostname: config.host, port: config.proxyPort,
    fetch: proxy.fetch, websocket: proxy.websocket,
    idleTimeout: PROXY_IDLE_TIMEOUT_S, maxRequestBodySize: 4 * 1024 ** 3,
  }) as Server<unknown>;
  boundProxyPort = proxyServer.port!;

  const api = createApi({ ...apiBase, previews, deployments: deploymentApi, corsOrigins: config.corsOrigins });
  // The API's own bodyLimit (hono, after auth) is the limit, and answers 413 in the spec's error shape; Bun's must never cut in first with a bare 413.
  const apiServer = Bun.serve({ hostname: config.host, port: config.apiPort, fetch: api.fetch, idleTimeout: 0, maxRequestBodySize: 2 ** 40 });
  ready = true;

  const d: Daemon = {
    config, token, orchestrator, databaseUrl, deployments,
    get view() {
      return view;
    },
    proxyPort: proxyServer.port!, apiPort: apiServer.port!, peerPort: peerServer?.port ?? config.peerPort,
    async stop() {
      ready = false;
      await Promise.all([proxyServer, apiServer, peerServer].map((s) => s && drain(s, 5000)));
      for (const stop of stoppers) await stop();
      await sql.end({ timeout: 5 });
      await embedded?.stop();
    },
  };
  printBanner(d, log, generated ? token : undefined, tokenPath);
  return d;
}

/**
 * Stops taking connections and lets requests in flight finish, for at most
 * `ms`: a log follower or a WebSocket never ends by itself, and must not hold
 * a restart hostage.
 */
async function drain(server: Server<unknown>, ms: number): Promise<void> {
  const graceful = server.stop();
  const timer = setTimeout(() => void server.stop(true), ms);
  await graceful;
  clearTimeout(timer);
}

/** Drops schemas and roles a crash or an abandoned create left behind, past the retention. */
function scheduleCleanup(config: Config, store: PreviewStore, databases: PreviewDatabases, log: Logger): () => void {
  const timer = setInterval(async () => {
    try {
      const liveIds = new Set((await store.list()).map((r) => r.id));
      const { dropped } = await databases.cleanup({ liveIds, retentionSeconds: config.dbRetention });
      if (dropped.length) log.info({ dropped }, "dropped orphaned preview databases");
    } catch (err) {
      log.warn({ err }, "database cleanup failed");
    }
  }, Math.max(1000, Math.min(60_000, config.dbRetention * 1000)));
  timer.unref();
  return () => clearInterval(timer);
}

function printBanner(d: Daemon, log: Logger, newToken: string | undefined, tokenPath: string | undefined) {
  const api = `http://${d.config.host}:${d.apiPort}`;
  const tokenRef = newToken ?? (tokenPath ? `$(cat ${tokenPath})` : "$PREVIEWD_API_TOKEN");
  log.info({ api, proxy: `http://{id}.${d.config.domain}:${d.proxyPort}`, node: d.config.nodeId, capacity: d.orchestrator.capacity }, "previewd is ready");
  if (log.levelVal > 30) return; // quiet (tests, benchmarks)
  const lines = [
    `previewd ${d.config.nodeId} is ready`,
    `  control API: ${api}   (token: ${newToken ? newToken + "  <- printed once; kept in " + tokenPath : tokenPath ? "in " + tokenPath : "PREVIEWD_API_TOKEN"})`,
    `  previews:    http://{id}.${d.config.domain}:${d.proxyPort}`,
    `  try:`,
    `    curl -s -X POST '${api}/v1/previews?wait=1' -H "Authorization: Bearer ${tokenRef}" -H 'content-type: application/json' \\`,
    `      -d '{"files":{"server.js":"require(\\"http\\").createServer((q,s)=>s.end(\\"hello from previewd\\\\n\\")).listen(process.env.PORT)"},"command":["node","server.js"]}'`,
  ];
  process.stderr.write(lines.join("\n") + "\n");
}

/** Runs the daemon until SIGTERM/SIGINT; resolves after a clean drain. */
export async function serve(config: Config, log: Logger): Promise<void> {
  const d = await startDaemon(config, log);
  await new Promise<void>((resolve) => {
    process.once("SIGTERM", resolve);
    process.once("SIGINT", resolve);
  });
  log.info("draining");
  await d.stop();
  log.info("stopped");
}

/** The Fly tier: the app ensured and this cluster's machines reconciled with the store, or undefined (logged) when Fly refuses. */
async function startFly(
  config: Config,
  deps: { store: PreviewStore; databases: PreviewDatabases; log: Logger; newId: () => string; previewUrl: (id: string) => string },
): Promise<FlyTier | undefined> {
  const log = deps.log.child({ mod: "fly" });
  const machines = new FlyMachines({ apiUrl: config.flyApiUrl, token: config.flyApiToken, app: config.flyApp, orgSlug: config.flyOrg, regions: config.flyRegions, log });
  const fly = new FlyTier({
    machines, store: deps.store, databases: deps.databases, node: config.nodeId, cluster: config.clusterName,
    image: config.flyImage || `registry.fly.io/${config.flyApp}:preview-base`,
    edgeUrl: config.flyEdgeUrl || `https://${config.flyApp}.fly.dev`,
    databaseAddr: config.flyDatabaseAddr || undefined,
    prices: { runningPerHour: config.flyPriceRunningHour, suspendedPerHour: config.flyPriceSuspendedHour },
    previewUrl: deps.previewUrl, newId: deps.newId, log, startTimeoutMs: Math.max(config.startTimeout, 120) * 1000,
  });
  try {
    await machines.ensureApp();
    const r = await fly.reconcile();
    log.info({ app: config.flyApp, ...r }, "Fly overflow on");
    return fly;
  } catch (err) {
    log.error({ err: (err as Error).message }, "Fly overflow is OFF: Fly.io refused or could not be reached at start");
    return undefined;
  }
}
