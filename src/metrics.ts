// The daemon's Prometheus metrics, through prom-client, named as Prometheus
// recommends (https://prometheus.io/docs/practices/naming/): `previewd_`
// prefix, base units in the name (`_seconds`, `_bytes`), `_total` on counters,
// histograms for latencies. One Registry per daemon, never prom-client's
// global one: tests run several daemons in one process.
//
// Two kinds of values: latencies, observed as they happen (the orchestrator's
// and the proxy's `observe` hooks); and state the daemon already keeps
// (counts, totals, cache sizes), copied from a snapshot at scrape time, so
// nothing else has to know about Prometheus.
import { Counter, Gauge, Histogram, Registry } from "prom-client";

/** What the daemon knows at scrape time (see daemon.ts's metrics block). */
export interface MetricsSnapshot {
  /** Container previews on this node, by status. */
  previews: Record<string, number>;
  capacity: number;
  /** Slots held: previews installing, starting, running or suspended, plus creates in flight. */
  capacityUsed: number;
  warmAvailable: number;
  /** Memory for previews (capacity by memory, orchestrator/memory.ts); unset: by count only. */
  memory?: { totalBytes: number; freeBytes: number };
  /** Suspended container previews by sleep stage (frozen: memory in RAM; reclaimed: pushed out to swap). */
  asleep?: Record<string, number>;
  /** Cumulative since start: the database watchdog's actions. */
  dbWatchdog: { cancelled: number; terminated: number };
  /** Cumulative counters and current size of the dependency cache. */
  deps: { installs: number; failures: number; hits: number; evictions: number; entries: number; bytes: number };
  /** Cumulative since start, by reason. */
  peerRefused: Record<string, number>;
  /** Cumulative since start: peer signatures that held (a sibling hop's connection is signed once). */
  peerVerified?: number;
  gossipDropped: Record<string, number>;
  aliveNodes: number;
  /** Cumulative since start: drift between records, containers and routes, by kind (orchestrator/drift.ts). */
  drift?: Record<string, number>;
  /** Cumulative since start: host firewall rules found missing or changed and put back, by part (pool/firewall.ts). Unset: firewall off. */
  firewallRepairs?: Record<string, number>;
  /** Gossip's local health multiplier (Lifeguard), 0 without a cluster. */
  gossipLocalHealth?: number;
  /** The cluster's Fly previews now (every node reports the same: use max() across nodes). Unset: overflow off. */
  fly?: { running: number; suspended: number; other: number; runningSeconds: number; suspendedSeconds: number; costUsd: number };
}

// Buckets: a create spans a warm cache hit (~1 s) to a cold `npm ci` (minutes);
// a wake spans an unpause (tens of ms) to a restarted app (seconds); a proxied
// request is usually milliseconds, but holds while its preview wakes.
const CREATE_BUCKETS = [0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300];
const WAKE_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30];
const REQUEST_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class DaemonMetrics {
  readonly registry = new Registry();
  private readonly startedAt = Date.now() / 1000;
  private readonly create = this.histogram("previewd_create_duration_seconds", "Time from a create call to its container preview answering (or failing), by outcome and how its dependencies came.", ["outcome", "deps"], CREATE_BUCKETS);
  private readonly wake = this.histogram("previewd_wake_duration_seconds", "Time to wake a container preview (unpause a suspended one, restart a stopped one until its app answers), by the state it woke from.", ["from", "outcome"], WAKE_BUCKETS);
  private readonly request = this.histogram("previewd_proxy_request_duration_seconds", "Time from a request reaching the preview proxy to its response headers (waking included), by status code.", ["code"], REQUEST_BUCKETS);
  private readonly g = {
    previews: this.gauge("previewd_previews", "Container previews on this node, by status.", ["tier", "status"]),
    capacity: this.gauge("previewd_capacity", "Previews this node may hold."),
    capacityUsed: this.gauge("previewd_capacity_used", "Slots held on this node: previews installing, starting, running or suspended, plus creates in flight."),
    warm: this.gauge("previewd_warm_available", "Warm containers ready to claim."),
    memoryBudget: this.gauge("previewd_memory_budget_bytes", "Memory previews may use on this node (PREVIEWD_MEMORY_BUDGET_MB)."),
    memoryFree: this.gauge("previewd_memory_free_bytes", "Memory budget left: awake previews count at least their reservation, sleeping ones what they hold."),
    asleep: this.gauge("previewd_previews_asleep", "Suspended container previews by sleep stage: frozen (memory in RAM) or reclaimed (pushed out to swap).", ["sleep"]),
    depsEntries: this.gauge("previewd_deps_cache_entries", "Sealed dependency cache entries."),
    depsBytes: this.gauge("previewd_deps_cache_bytes", "Disk used by the dependency cache."),
    alive: this.gauge("previewd_cluster_alive_nodes", "Nodes this node sees alive (itself included)."),
    localHealth: this.gauge("previewd_gossip_local_health", "Gossip's local health multiplier (Lifeguard): 0 healthy, up to 8 while this node misses its own deadlines; its probe timeouts are stretched by this plus one."),
    rss: this.gauge("process_resident_memory_bytes", "Resident memory of the previewd process."),
    start: this.gauge("process_start_time_seconds", "Start time of this daemon since the Unix epoch."),
  };
  // Gauges, not counters: sums over the Fly previews that exist now, which drop when one is deleted.
  private readonly fly = {
    previews: new Gauge({ name: "previewd_fly_previews", help: "The cluster's previews on Fly Machines, by status.", labelNames: ["status"], registers: [] }),
    running: new Gauge({ name: "previewd_fly_running_seconds", help: "Seconds the cluster's current Fly previews have run (machines alive).", registers: [] }),
    suspended: new Gauge({ name: "previewd_fly_suspended_seconds", help: "Seconds the cluster's current Fly previews have been suspended.", registers: [] }),
    cost: new Gauge({ name: "previewd_fly_estimated_cost_usd", help: "Estimated Fly cost in US dollars of the cluster's current Fly previews (FLY_PRICE_* settings).", registers: [] }),
  };
  private readonly c = {
    watchdog: this.counter("previewd_db_watchdog_total", "Preview database backends acted on: cancelled or terminated past PREVIEWD_DB_QUERY_LIMIT or their memory share, yielded or restored for their CPU share; by action.", ["action"]),
    installs: this.counter("previewd_deps_installs_total", "Dependency installs that ran (cache misses that succeeded)."),
    installFailures: this.counter("previewd_deps_install_failures_total", "Dependency installs that failed."),
    hits: this.counter("previewd_deps_cache_hits_total", "Previews that got their dependencies from the cache."),
    evictions: this.counter("previewd_deps_cache_evictions_total", "Cache entries removed to stay under the cap."),
    peerRefused: this.counter("previewd_peer_refused_total", "Peer calls refused, by reason.", ["reason"]),
    peerVerified: this.counter("previewd_peer_verified_total", "Peer signatures that held: one per API call, one per sibling hop connection (not per request on it)."),
    gossipDropped: this.counter("previewd_gossip_dropped_total", "Gossip datagrams dropped, by reason.", ["reason"]),
    drift: this.counter("previewd_drift_total", "Differences between this node's records, containers and routing table, fixed or reported, by kind.", ["kind"]),
    transitions: this.counter("previewd_transitions_total", "Status changes of the previews this node runs or created, by tier, the status left (none: a new preview) and the status entered.", ["tier", "from", "to"]),
    firewallRepairs: this.counter("previewd_firewall_repairs_total", "Host firewall rules found missing or changed under the running daemon and put back, by part (skeleton, daemon_chain, allow_jump, jump, allow_chain; input_ or forward_).", ["part"]),
  };

  /** The orchestrator's hook: a create reached its end, or a wake finished. */
  readonly observe = (event: "create" | "wake", seconds: number, labels: Record<string, string>): void => {
    (event === "create" ? this.create : this.wake).observe(labels, seconds);
  };

  /** The lifecycle's hook: a preview changed status (or was created: from "none"). */
  readonly transition = (tier: string, from: string | undefined, to: string): void => {
    this.c.transitions.inc({ tier, from: from ?? "none", to });
  };

  /** The proxy's hook: a response is on its way. */
  // Per request on the proxy's hot path: the child histogram of each status is looked up once, not hashed from labels each time.
  private readonly requestByCode = new Map<number, { observe(v: number): void }>();
  readonly observeRequest = (seconds: number, status: number): void => {
    let child = this.requestByCode.get(status);
    if (!child) this.requestByCode.set(status, (child = this.request.labels({ code: String(status) })));
    child.observe(seconds);
  };

  /** Copies the snapshot into the registry and renders it. */
  render(s: MetricsSnapshot): Promise<string> {
    const g = this.g;
    g.previews.reset();
    for (const [status, n] of Object.entries(s.previews)) g.previews.set({ tier: "container", status }, n);
    g.capacity.set(s.capacity);
    g.capacityUsed.set(s.capacityUsed);
    g.warm.set(s.warmAvailable);
    if (s.memory) {
      g.memoryBudget.set(s.memory.totalBytes);
      g.memoryFree.set(s.memory.freeBytes);
    }
    for (const stage of ["frozen", "reclaimed"]) g.asleep.set({ sleep: stage }, s.asleep?.[stage] ?? 0);
    g.depsEntries.set(s.deps.entries);
    g.depsBytes.set(s.deps.bytes);
    g.alive.set(s.aliveNodes);
    g.localHealth.set(s.gossipLocalHealth ?? 0);
    g.rss.set(process.memoryUsage.rss());
    g.start.set(this.startedAt);
    total(this.c.watchdog, s.dbWatchdog, "action");
    total(this.c.installs, s.deps.installs);
    total(this.c.installFailures, s.deps.failures);
    total(this.c.hits, s.deps.hits);
    total(this.c.evictions, s.deps.evictions);
    total(this.c.peerRefused, s.peerRefused, "reason");
    total(this.c.peerVerified, s.peerVerified ?? 0);
    total(this.c.gossipDropped, s.gossipDropped, "reason");
    total(this.c.drift, s.drift ?? {}, "kind");
    total(this.c.firewallRepairs, s.firewallRepairs ?? {}, "part");
    if (s.fly) {
      // Registered on the first snapshot that has them: with overflow off the
      // Fly series are absent, not a misleading zero cost.
      if (!this.registry.getSingleMetric("previewd_fly_previews")) for (const m of Object.values(this.fly)) this.registry.registerMetric(m);
      for (const status of ["running", "suspended", "other"] as const) this.fly.previews.set({ status }, s.fly[status]);
      this.fly.running.set(Math.round(s.fly.runningSeconds));
      this.fly.suspended.set(Math.round(s.fly.suspendedSeconds));
      this.fly.cost.set(Math.round(s.fly.costUsd * 1e4) / 1e4);
    }
    return this.registry.metrics();
  }

  private gauge(name: string, help: string, labelNames: string[] = []): Gauge {
    return new Gauge({ name, help, labelNames, registers: [this.registry] });
  }

  private counter(name: string, help: string, labelNames: string[] = []): Counter {
    return new Counter({ name, help, labelNames, registers: [this.registry] });
  }

  private histogram(name: string, help: string, labelNames: string[], buckets: number[]): Histogram {
    return new Histogram({ name, help, labelNames, buckets, registers: [this.registry] });
  }
}

/**
 * Sets a counter to a running total the daemon keeps itself (prom-client's
 * counters only go up by inc, so: reset, then inc by the total). The totals
 * only grow while the process lives, which is what a counter promises.
 */
function total(c: Counter, value: number | Record<string, number>, label?: string): void {
  c.reset();
  if (typeof value === "number") c.inc(value);
  else for (const [k, v] of Object.entries(value)) c.inc({ [label!]: k }, v);
}
