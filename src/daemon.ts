// Composition root of `previewd serve`: config -> database -> adapters ->
// orchestrator -> cluster -> listeners; drains on SIGTERM. Only this file
// builds concrete adapters (Docker, PostgreSQL, gossip transport).
import { Lifecycle } from "./lifecycle/index.ts";
import type { Server } from "bun";
import { cpus } from "node:os";
import { join, resolve } from "node:path";
import { createApi } from "./api/index.ts";
import { BrowserTier } from "./browser/index.ts";
import { StaticBuilder } from "./browser/build.ts";
import { SiteStore } from "./browser/sites.ts";
import { effectiveCaBundle, effectiveCapacity, effectiveDbMemoryMb, effectiveMemoryBudgetMb, previewUrl, type Config } from "./config.ts";
import { sample as sampleUsage } from "./pool/usage.ts";
import { DeploySource } from "./deploy/source.ts";
import { Deployments, DeploymentStore, publicView } from "./deploy/index.ts";
import { RailwayClient } from "./deploy/railway/client.ts";
import { RailwayApi } from "./deploy/railway/operations.ts";
import { RailwayProvider } from "./deploy/railway/provider.ts";
import { DepsCache, defaultCapBytes, prewarm, sandboxInstaller } from "./deps/index.ts";
import { DatabaseWatchdog, PreviewDatabases, PreviewStore } from "./db/index.ts";
import type { Pooler } from "./db/pooler.ts";
import { logFormat, type Logger } from "./log.ts";
import { DaemonMetrics } from "./metrics.ts";
import { newPreviewId, Orchestrator } from "./orchestrator/index.ts";
import { PeerClient } from "./peer/client.ts";
import { acceptTakeover, Drainer, TAKEOVER_PATH } from "./peer/drain.ts";
import { createLocator } from "./peer/locate.ts";
import { startMembership } from "./peer/membership.ts";
import { Recovery } from "./peer/recovery.ts";
import { ClusterPreviews } from "./peer/router.ts";
import { startPeerServer } from "./peer/server.ts";
import { PEER_HOST_HEADER, PeerVerifier } from "./peer/signing.ts";
import { soloView, type ClusterView } from "./peer/view.ts";
import type { NodeService } from "./api/nodes.ts";
import { notFound } from "./errors.ts";
import { DockerRuntime } from "./pool/docker.ts";
import { PreviewDisks, releaseAllDisks } from "./pool/disk.ts";
import { DatabaseCpuShare } from "./db/cpushare.ts";
import type { HostFirewall } from "./pool/firewall.ts";
import { DatabaseBudget } from "./db/budget.ts";
import { setUpDeepSleep } from "./sleep/index.ts";
import { randomBytes } from "node:crypto";
import { startFront, type Front } from "./proxy/fast/index.ts";
import { frontThreadCount, startFrontThreads } from "./proxy/fast/threads.ts";
import { SlotTable } from "./proxy/fast/shared-limit.ts";
import { peerRoutes, publicRoutes } from "./proxy/fast/routes.ts";
import { createProxy, PROXY_IDLE_TIMEOUT_S } from "./proxy/index.ts";
import { announce } from "./startup.ts";
import { PollFilter } from "./pool/polls.ts";
import { startDatabase } from "./daemon/database.ts";
import { drain, scheduleCleanup, startFirewall, startFly } from "./daemon/parts.ts";
import { Access, accessSecret } from "./access/index.ts";
import { createAccessGate } from "./access/gate.ts";
import { apiToken } from "./token.ts";

export interface Daemon {
  config: Config;
  /** The public proxy port's byte-level front (its connection counts are read by tests). */
  front: Front;
  token: string;
  orchestrator: Orchestrator;
  view: ClusterView;
  proxyPort: number;
  apiPort: number;
  peerPort: number;
  databaseUrl: string;
  /** PgBouncer in front of the embedded database for previews' connections (src/db/pooler.ts); unset when off. */
  pooler?: Pooler;
  /** Unset when deploys are off (no RAILWAY_API_TOKEN). */
  deployments?: Deployments;
  /** The host firewall for previews (src/pool/firewall.ts); unset when off or not installable here. */
  firewall?: HostFirewall;
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
  const { embedded, databaseUrl, sql, pooler } = await startDatabase(config, log);
  const stoppers: Array<() => unknown> = [];

  // ---- this node's previews
  const depsRoot = resolve(config.depsDir || join(config.dataDir, "deps"));
  // The disk budget needs root, loop devices and mkfs.ext4: without them previews run unbounded, said loudly, rather than not at all.
  let disks: PreviewDisks | undefined = new PreviewDisks({ root: join(config.dataDir, "disks"), sizeMb: config.diskMb, log: log.child({ mod: "disks" }) });
  const diskProblem = await disks.probe();
  if (diskProblem) {
    log.error({ reason: diskProblem }, "PREVIEWD_DISK_MB cannot be enforced on this host (needs root, loop devices and mkfs.ext4): previews run WITHOUT a disk budget");
    disks = undefined;
  }
  const runtime = new DockerRuntime({
    nodeId: config.nodeId, image: config.image, memoryMb: config.memoryMb, cpus: config.cpus, pidsLimit: config.pidsLimit,
    log: log.child({ mod: "docker" }), labels: opts.labels,
    depsDir: join(depsRoot, "entries"), caBundle: effectiveCaBundle(config), boostCpus: Math.max(config.boostCpus, config.cpus),
    installCpus: config.installCpus ? Number(config.installCpus) : cpus().length, installMemoryMb: config.installMemoryMb,
    disks,
  });
  await runtime.reconcileDisks(); // a crash or a reboot may have left disks unmounted or orphaned
  // Previews reach the internet, their database and DNS, not the host's own services; installed before any preview runs.
  const firewall = config.firewall === "on" ? await startFirewall(config, runtime, databaseUrl, log) : undefined;
  // Installs run on disks of a preview's size too (a postinstall script is a stranger's code); any left by a crash go first.
  // They live in this daemon's own data dir, not beside the cache entries: a cache folder shared by two daemons on
  // one host (tests do; an operator may) must not have one daemon's start release the other's installs mid-copy.
  const installDisksRoot = join(config.dataDir, "install-disks");
  if (disks) await releaseAllDisks(installDisksRoot, log);
  const installDisks = disks && new PreviewDisks({ root: installDisksRoot, sizeMb: config.diskMb, log: log.child({ mod: "disks" }) });
  // Browser-tier builds too: a build script is a stranger's code (its own disk, a read-only root).
  const buildDisksRoot = join(config.dataDir, "build-disks");
  if (disks) await releaseAllDisks(buildDisksRoot, log);
  const buildDisks = disks && new PreviewDisks({ root: buildDisksRoot, sizeMb: config.diskMb, log: log.child({ mod: "disks" }) });
  const deps = new DepsCache({
    root: depsRoot,
    capBytes: config.depsCacheMb ? Number(config.depsCacheMb) * 1024 * 1024 : defaultCapBytes(depsRoot),
    installer: sandboxInstaller(runtime, { timeoutMs: config.installTimeout * 1000, registry: config.npmRegistry || undefined }),
    log: log.child({ mod: "deps" }),
    disks: installDisks,
  });
  deps.init();
  const store = new PreviewStore(sql);
  // Private previews and share links: every front decides from this table, read from the store once a second (access/).
  const access = new Access({ sql, secret: accessSecret(config.clusterSecret, config.dataDir), log: log.child({ mod: "access" }) });
  await access.start();
  stoppers.push(() => access.stop());
  const databases = new PreviewDatabases({
    sql, adminUrl: databaseUrl, containerHost: config.dbHostForContainers, log: log.child({ mod: "db" }),
    // Through the pooler a role holds at most poolSize backends; the role's own limit is the backstop (+1 for its
    // migrations, which run direct; +1 for a backend still exiting when PgBouncer replaces it).
    connectionLimit: pooler ? pooler.sizing.poolSize + 2 : undefined, pooled: !!pooler,
  });
  const capacity = effectiveCapacity(config);
  let boundProxyPort = config.proxyPort;
  const prom = new DaemonMetrics(); // this daemon's own registry: tests run several daemons in one process
  // Every status change of every tier goes through this one lifecycle (src/lifecycle/).
  const lifecycle = new Lifecycle({ store, log: log.child({ mod: "lifecycle" }) });
  lifecycle.on((t) => prom.transition(t.tier, t.from, t.to));
  const orchestrator = new Orchestrator({
    nodeId: config.nodeId, runtime, store, databases, log, deps, lifecycle,
    cpus: config.cpus, boostCpus: Math.max(config.boostCpus, config.cpus), memoryMb: config.memoryMb, largeMemoryMb: config.largeMemoryMb,
    warmPoolSize: config.warmPool, capacity,
    idleTimeoutMs: config.idleTimeout * 1000, stopAfterMs: config.stopAfter * 1000, startTimeoutMs: config.startTimeout * 1000,
    // Deep sleep (src/sleep/): says at start what swap it found, or why it cannot work here.
    reclaimAfterMs: config.reclaimAfter * 1000,
    memory: {
      budgetBytes: effectiveMemoryBudgetMb(config) * 1048576, reserveBytes: config.memoryReserveMb * 1048576, floorBytes: config.reclaimFloorMb * 1048576,
      resident: (cid) => sampleUsage(cid)?.memoryBytes, // as docker stats counts it: page cache the kernel may drop is not held
    },
    reclaimer: setUpDeepSleep({ reclaimAfterS: config.reclaimAfter, floorMb: config.reclaimFloorMb, limitMb: config.memoryMb }, log.child({ mod: "sleep" })),
    // The bound port, not the setting (0 picks a free one).
    previewUrl: (id) => previewUrl({ ...config, proxyPort: boundProxyPort }, id),
    // Requests this node forwarded (to a sibling, to Fly) count as activity in the shared record.
    foreignActivity: (id, at) => void store.update(id, { lastActiveAt: at }).catch(() => {}),
    observe: prom.observe, // create and wake latency histograms
    driftIntervalMs: config.reconcileInterval * 1000,
    // A full host disk answers creates and file changes 507 (room for a preview disk's mkfs and its files).
    storage: { dirs: [...new Set([disks?.root ?? resolve(config.dataDir), depsRoot])], minFreeMb: 16 },
  });
  await orchestrator.start();
  stoppers.push(() => orchestrator.stop());
  if (config.prewarm.length) void prewarm(config.prewarm, deps, (files) => orchestrator.prepare(files).plan, log.child({ mod: "prewarm" }));
  stoppers.push(scheduleCleanup(config, store, databases, log));
  const watchdog = new DatabaseWatchdog({
    sql, log: log.child({ mod: "db-watchdog" }), limitMs: config.dbQueryLimit * 1000, migrationLimitMs: 125_000,
    // The embedded server's backends are this host's processes: one past a quarter of the server's memory (at most 1 GB) is stopped
    // before it can get the cgroup to OOM-kill, which restarts every preview's sessions (src/db/watchdog.ts).
    ...(embedded && { backendMemoryMb: Math.min(1024, Math.floor((effectiveDbMemoryMb(config) || 4096) / 4)) }),
  });
  watchdog.start();
  stoppers.push(() => watchdog.stop());
  // The embedded server's backends are this host's processes: a preview past its CPU share is held to it, in a CPU box
  // of the server's cgroup where there is one, else by nice (src/db/cpushare.ts).
  const cpuShare = embedded && new DatabaseCpuShare({ sql, log: log.child({ mod: "db-cpushare" }), shareCpus: Number(config.cpus), boxes: embedded.cgroup?.boxes });
  if (cpuShare) {
    cpuShare.start();
    stoppers.push(() => cpuShare.stop());
  }
  if (config.dbMb > 0) {
    const budget = new DatabaseBudget({ sql, log: log.child({ mod: "db-budget" }), limitBytes: config.dbMb * 1024 * 1024, onOver: (id, why) => orchestrator.failFromOutside(id, why) });
    budget.start();
    stoppers.push(() => budget.stop());
  }

  // ---- Fly overflow, when a token and an app are set; off (logged) if Fly cannot be reached at start
  const fly = config.flyApiToken && config.flyApp ? await startFly(config, { store, databases, log, lifecycle, newId: newPreviewId, previewUrl: (id) => previewUrl({ ...config, proxyPort: boundProxyPort }, id), nodeLines: orchestrator.nodeLines }) : undefined;
  if (fly) {
    const sweep = setInterval(() => void fly.sweep(orchestrator.idle, config.idleTimeout * 1000).catch((err: unknown) => log.warn({ err }, "Fly idle sweep failed")), Math.min(5000, config.idleTimeout * 500));
    const reconcile = setInterval(() => void fly.reconcile().catch((err: unknown) => log.warn({ err }, "Fly reconcile failed")), 300_000);
    stoppers.push(() => clearInterval(sweep), () => clearInterval(reconcile));
  }

  // ---- the browser tier: frontend-only apps built in the sandbox, served as files by every node
  const browser = new BrowserTier({
    store, sites: new SiteStore(sql), node: config.nodeId, newId: newPreviewId, log: log.child({ mod: "browser" }), lifecycle,
    previewUrl: (id) => previewUrl({ ...config, proxyPort: boundProxyPort }, id),
    webcontainer: config.browserRuntime === "webcontainer"
      ? { coep: config.browserCoep, bootTimeoutMs: config.webcontainerBootTimeout * 1000, apiKey: config.webcontainerApiKey || undefined, origin: config.webcontainerOrigin || undefined }
      : undefined,
    builder: new StaticBuilder({
      runtime, deps, imageIdentity: async () => orchestrator.imageIdentity, prepare: (files) => orchestrator.prepare(files), workRoot: join(config.dataDir, "builds"), depsEntries: join(depsRoot, "entries"),
      timeoutMs: config.installTimeout * 1000, maxOutputBytes: Math.max(config.maxBytes * 4, 200 * 1024 * 1024), maxOutputFiles: config.maxFiles * 4,
      disks: buildDisks,
    }),
  });
  await browser.resumeBuilds();
  stoppers.push(() => browser.stop());

  // ---- the cluster: a single node without a secret; gossip and a peer listener with one
  const local = { capacity, running: () => orchestrator.occupied, memory: () => orchestrator.memory() };
  let peerServer: Server<unknown> | undefined;
  let peerFront: Front | undefined;
  const frontSecret = randomBytes(24).toString("base64url");
  let view: ClusterView = soloView({ id: config.nodeId, state: "alive", capacity, running: 0, free: capacity, addr: `${config.host}:${config.peerPort}` }, () => ({ capacity, running: local.running(), memory: local.memory() }));
  const verifier = new PeerVerifier(config.clusterSecret);
  let gossipDropped: () => Record<string, number> = () => ({});
  let gossipLocalHealth = () => 0;
  // Drains (peer/drain.ts): made once the cluster view and the peer client exist, below.
  let drainer: Drainer | undefined;
  const localNodes: NodeService = {
    drain: async (node) => {
      if (node !== config.nodeId || !drainer) throw notFound("node", node);
      return drainer.start();
    },
    drainStatus: async (node) => {
      if (node !== config.nodeId || !drainer) throw notFound("node", node);
      return drainer.status();
    },
  };
  // Unless PREVIEWD_IDLE_POLLS=count, a poller repeating one request keeps no preview awake (pool/polls.ts): one filter per
  // thread, shared by the byte-level front and the general path it hands requests to (a suspended preview's polls arrive
  // there, and must be known as polls to be refused without a wake).
  const pollFilter = () => (config.idlePolls === "ignore" ? new PollFilter() : undefined);
  const peerPolls = pollFilter();
  const publicPolls = pollFilter();
  const localProxy = createProxy({
    domain: config.domain, log, activity: orchestrator.idle, polls: peerPolls, maxInflight: config.previewMaxInflight, bodyTimeoutS: config.clientBodyTimeout,
    lookup: (id) => orchestrator.endpointIfRunning(id),
    resolve: (id) => orchestrator.resolve(id), // this node's previews only: one hop, never two
    wakingState: (id) => orchestrator.get(id), // a sibling's navigation to a preview here gets the waking page from here
    hostOf: (req) => req.headers.get(PEER_HOST_HEADER),
    trustsForwarded: () => true, // a signed sibling hop: it set them for its own client
    frontSecret, // the peer front names the sibling it relayed for
  });
  // What both control APIs share (the public one and the peer listener's own).
  let ready = false;
  const apiBase = {
    token, log,
    limits: { maxFiles: config.maxFiles, maxBytes: config.maxBytes },
    cluster: { view: () => ({ nodes: view.nodes(), overflow: { fly: !!fly }, warmPool: { node: config.nodeId, available: orchestrator.pool.available, target: config.warmPool } }) },
    ready: () => ready,
    // Names, units and types: src/metrics.ts; the values are read here at scrape time.
    metrics: () => prom.render({
      previews: orchestrator.counts(),
      capacity, capacityUsed: orchestrator.occupied, warmAvailable: orchestrator.pool.available, memory: orchestrator.memory(), asleep: orchestrator.asleep(),
      dbWatchdog: { ...watchdog.counts, ...cpuShare?.counts },
      deps: { ...deps.counters, entries: deps.size, bytes: deps.bytes },
      peerRefused: verifier.refused, peerVerified: verifier.verified, gossipDropped: gossipDropped(),
      aliveNodes: view.nodes().filter((n) => n.state === "alive").length,
      gossipLocalHealth: gossipLocalHealth(),
      drift: orchestrator.driftCounts,
      firewallRepairs: firewall?.repairs,
      fly: fly && { ...fly.totals },
    }),
  };
  if (config.clusterSecret) {
    const localApi = createApi({ ...apiBase, previews: orchestrator, auth: async (_c, next) => next(), nodes: localNodes });
    // A draining sibling hands this node one of its previews (the store already names this node).
    const peerOnly = async (req: Request) => {
      const path = new URL(req.url).pathname;
      if (req.method !== "POST" || !path.startsWith(TAKEOVER_PATH)) return undefined;
      return acceptTakeover({ orch: orchestrator, store, self: config.nodeId }, path.slice(TAKEOVER_PATH.length));
    };
    // The peer port is a byte-level front too: a signed hop to a preview running here goes straight to its
    // container; API calls and hops that need a wake go to the peer listener behind it, on loopback.
    peerServer = startPeerServer({ host: "127.0.0.1", port: 0, verifier, api: localApi, proxy: localProxy as never, log, self: config.nodeId, maxApiBody: config.maxBytes * 2 + 2 * 1024 * 1024, peerOnly, frontSecret });
    peerFront = startFront({
      hostname: config.host, port: config.peerPort, log: log.child({ mod: "peer-front" }), activity: orchestrator.idle, polls: peerPolls, limit: localProxy.limit, frontSecret,
      route: peerRoutes({ domain: config.domain, lookup: (id) => orchestrator.endpointIfRunning(id), verifier, self: config.nodeId, general: { host: "127.0.0.1", port: peerServer.port! } }),
      bodyTimeoutMs: config.clientBodyTimeout * 1000, idleTimeoutMs: PROXY_IDLE_TIMEOUT_S * 1000,
    });
    const membership = await startMembership({ config, peerPort: peerFront.port, capacity, running: local.running, memory: local.memory, log, draining: () => orchestrator.draining });
    view = membership.view;
    gossipDropped = () => membership.dropped();
    gossipLocalHealth = () => membership.swim.localHealth;
    stoppers.unshift(() => membership.stop());
    const recovery = new Recovery({ view, store, orch: orchestrator, log: log.child({ mod: "recovery" }), intervalMs: 1000, graceMs: membership.graceMs });
    recovery.start();
    stoppers.unshift(() => recovery.stop());
  }
  const peers = new PeerClient(view, config.clusterSecret);
  drainer = new Drainer({ view, store, orch: orchestrator, peers, log: log.child({ mod: "drain" }) });
  // Any node starts or follows any node's drain: its own here, another's over the peer listener.
  const nodes: NodeService = {
    drain: (node) => (node === config.nodeId ? localNodes.drain(node) : known(node) ? peers.json(node, "POST", `/v1/nodes/${node}/drain`) : Promise.reject(notFound("node", node))),
    drainStatus: (node) => (node === config.nodeId ? localNodes.drainStatus(node) : known(node) ? peers.json(node, "GET", `/v1/nodes/${node}/drain`) : Promise.reject(notFound("node", node))),
  };
  const known = (node: string) => view.nodes().some((n) => n.id === node);
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
      rehearsalMaxRows: config.deployRehearsalRows,
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
    create: async (id: string, req: { provider: "railway"; projectName?: string; cleanup?: boolean; mode?: "create" | "update"; confirm?: string[] }) => publicView(await deployments.create(id, req)),
    rollback: async (id: string) => publicView(await deployments.rollback(id)),
    get: async (id: string) => publicView(await deployments.get(id)),
    list: async (id: string) => (await deployments.list(id)).map(publicView),
    remove: async (id: string) => publicView(await deployments.remove(id)),
  };

  // ---- public listeners
  const trustedProxies = new Set(config.trustedProxies);
  // Per request: nothing but a size check when no proxy is trusted (the common case).
  const locator = createLocator({ orch: orchestrator, store, peers, self: config.nodeId, fly, browser });
  // With several fronts on the public port a preview's in-flight limit is counted across them all, in shared memory.
  const threadCount = frontThreadCount(config.proxyThreads);
  const slots = threadCount > 1 ? new SlotTable() : undefined;
  const trustsForwarded = (ip: string | undefined) => trustedProxies.size > 0 && ip !== undefined && trustedProxies.has(ip.replace(/^::ffff:/, ""));
  const proxy = createProxy({
    domain: config.domain, log, maxInflight: config.previewMaxInflight, bodyTimeoutS: config.clientBodyTimeout,
    sharedInflight: slots && { counters: slots.counters, slotOf: (id) => slots.slotOf(id) },
    lookup: (id) => orchestrator.endpointIfRunning(id),
    resolve: locator.resolve,
    wakingState: (id) => previews.get(id),
    access: createAccessGate({ access, httpsUrls: config.urlTemplate.startsWith("https://") }),
    activity: orchestrator.idle, polls: publicPolls,
    trustsForwarded, frontSecret,
    observe: prom.observeRequest, // the public listener only: a sibling's hop would count a request twice
  });
  // The general path, on loopback behind the byte-level front (proxy/fast) that owns the public port.
  const generalServer = Bun.serve({
    hostname: "127.0.0.1", port: 0,
    fetch: proxy.fetch, websocket: proxy.websocket,
    idleTimeout: PROXY_IDLE_TIMEOUT_S, maxRequestBodySize: 4 * 1024 ** 3,
  }) as Server<unknown>;
  const front = startFront({
    reusePort: threadCount > 1,
    hostname: config.host, port: config.proxyPort, log: log.child({ mod: "front" }), activity: orchestrator.idle, polls: publicPolls, limit: proxy.limit, frontSecret,
    route: publicRoutes({
      domain: config.domain, lookup: (id) => orchestrator.endpointIfRunning(id), sibling: locator.sibling, access: access.table,
      general: { host: "127.0.0.1", port: generalServer.port! }, trustsForwarded: (ip) => trustsForwarded(ip),
    }),
    observe: prom.observeRequest, bodyTimeoutMs: config.clientBodyTimeout * 1000, idleTimeoutMs: PROXY_IDLE_TIMEOUT_S * 1000,
  });
  boundProxyPort = front.port;
  const threads = threadCount > 1
    ? await startFrontThreads({
        count: threadCount - 1, slots: slots!, log, activity: orchestrator.idle, observe: prom.observeRequest, siblingsUsed: locator.keepFresh,
        init: {
          hostname: config.host, port: front.port, domain: config.domain, general: { host: "127.0.0.1", port: generalServer.port! }, frontSecret,
          trustedProxies: config.trustedProxies, maxInflight: config.previewMaxInflight,
          bodyTimeoutMs: config.clientBodyTimeout * 1000, idleTimeoutMs: PROXY_IDLE_TIMEOUT_S * 1000,
          logLevel: config.logLevel, logFormat: logFormat(),
          cluster: config.clusterSecret ? { secret: config.clusterSecret, self: config.nodeId } : undefined,
          accessKey: access.signer.exported, ignorePolls: config.idlePolls === "ignore",
        },
      })
    : undefined;
  if (threads) {
    orchestrator.proxyThreads = threads;
    // At once on every change the orchestrator sees; this catches the rest (an address found by a restart).
    let accessSent = -1;
    const publisher = setInterval(() => {
      orchestrator.routesChanged();
      threads.publishSiblings(locator.siblings());
      // Visibility and revocations: a change is in every thread within this tick.
      if (access.table.version !== accessSent) {
        accessSent = access.table.version;
        threads.publishAccess(access.table.snapshot());
      }
    }, 250);
    stoppers.unshift(async () => clearInterval(publisher));
    orchestrator.routesChanged();
    log.info({ fronts: threadCount }, "public proxy port served by several threads");
  }

  const api = createApi({ ...apiBase, previews, deployments: deploymentApi, corsOrigins: config.corsOrigins, nodes, access, defaultVisibility: config.visibility });
  // The API's own bodyLimit (hono, after auth) is the limit, and answers 413 in the spec's error shape; Bun's must never cut in first with a bare 413.
  const apiServer = Bun.serve({ hostname: config.host, port: config.apiPort, fetch: api.fetch, idleTimeout: 0, maxRequestBodySize: 2 ** 40 });
  ready = true;

  const d: Daemon = {
    config, token, orchestrator, databaseUrl, deployments, pooler, firewall,
    get view() {
      return view;
    },
    proxyPort: front.port, front, apiPort: apiServer.port!, peerPort: peerFront?.port ?? config.peerPort,
    async stop() {
      ready = false;
      await Promise.all([front.stop(5000), threads?.stop(5000), peerFront?.stop(5000), ...[generalServer, apiServer, peerServer].map((s) => s && drain(s, 5000))]);
      for (const stop of stoppers) await stop();
      await firewall?.remove().catch((err: unknown) => log.warn({ err }, "host firewall removal failed"));
      await sql.end({ timeout: 5 });
      await pooler?.stop();
      await embedded?.stop();
    },
  };
  announce({ ...d, embeddedDir: embedded?.dataDir, capacity, fly: !!fly, deploy: !!deployments }, log, { generated: generated ? token : undefined, path: tokenPath });
  return d;
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
